import kleur from 'kleur';
import type { Command } from 'commander';
import { restartPolicyFrom } from '../config/policy.js';
import { settingNames } from '../config/schema.js';
import { SupervisorLedger, type ClearedRestarts } from '../warden/supervisorLedger.js';
import { openStore } from '../store/openStore.js';
import { operatorActor } from './actor.js';
import { chooseColour } from './colour.js';
import { addExamples, addOperatorOptions } from './operatorOptions.js';
import { resolveSettings } from './settingsOptions.js';
import { duration, plural } from './textFormat.js';

interface ResetRestartsOptions extends Record<string, unknown> {
  reason?: string;
  json?: boolean;
}

/**
 * The one way to release the supervisor's brakes after fixing what made the worker fail: a
 * restart of the supervisor never does it, by design.
 */
export function registerResetRestarts(program: Command): void {
  const command = program
    .command('reset-restarts')
    .description(
      "clear the supervisor's restart history once the cause of a crash loop is fixed: the failures in a row, a pending restart delay and the burst window; " +
        'a supervisor waiting to restart starts its worker at once',
    )
    .option('--reason <text>', 'why, recorded in audit_log with the time and who')
    .option('--json', 'print one JSON object instead of a sentence');
  addOperatorOptions(command, ['db', 'durability']);
  addExamples(command, [
    'ratewarden reset-restarts --reason "fixed the upstream URL in the config file"',
    'ratewarden reset-restarts --db /var/lib/ratewarden/ratewarden.db --json',
  ]);
  command.action(async (options: ResetRestartsOptions) => {
    const { settings } = resolveSettings(options, settingNames);
    chooseColour();
    const actor = operatorActor();
    const reason = options.reason !== undefined && options.reason.trim() !== '' ? options.reason.trim() : null;
    const policy = restartPolicyFrom(settings);
    const store = await openStore({ db: settings.db as string, clock: Date.now, durability: settings.durability, mustExist: true });
    const ledger = new SupervisorLedger({ store, policy });
    let cleared: ClearedRestarts;
    try {
      cleared = await ledger.clear(actor, reason);
    } finally {
      await ledger.close();
    }
    const output =
      options.json === true
        ? JSON.stringify({ database: store.location, actor, reason, ...cleared }, null, 2)
        : render(cleared, policy.startLimitIntervalMs, actor);
    process.stdout.write(`${output}\n`);
  });
}

function render(cleared: ClearedRestarts, intervalMs: number, actor: string): string {
  const recorded = kleur.dim(`Recorded in audit_log by ${actor}.`);
  if (!cleared.anything) return `Nothing to clear: no worker failures since the last reset. ${recorded}`;
  const parts = [
    `${plural(cleared.failuresInInterval, 'failure')} within the last ${duration(intervalMs)}`,
    `${plural(cleared.consecutiveFailures, 'failure')} in a row`,
    cleared.restartWasDue ? 'the pending restart delay' : null,
    cleared.gaveUp ? 'the give-up' : null,
  ].filter((part): part is string => part !== null);
  const next = cleared.gaveUp
    ? 'Start "ratewarden run" again: the supervisor starts from a clean slate.'
    : 'A supervisor waiting to restart starts its worker now; the next failure waits restart-sec again.';
  return `${kleur.green('Cleared')} the restart history: ${parts.join(', ')}. ${next} ${recorded}`;
}
