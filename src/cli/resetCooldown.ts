import kleur from 'kleur';
import type { Command } from 'commander';
import { limiterPolicyFrom } from '../config/policy.js';
import { settingNames } from '../config/schema.js';
import { Warden } from '../warden/warden.js';
import { operatorActor } from './actor.js';
import { chooseColour } from './colour.js';
import { addExamples, addOperatorOptions } from './operatorOptions.js';
import { resolveSettings } from './settingsOptions.js';
import { duration, plural } from './textFormat.js';

interface ResetOptions extends Record<string, unknown> {
  reason?: string;
  json?: boolean;
}

type Cleared = ReturnType<Warden['resetCooldown']>;

export function registerResetCooldown(program: Command): void {
  const command = program
    .command('reset-cooldown')
    .description('clear the cooldown, the consecutive-429 count, the backoff level and a pending probe; a running proxy obeys at its next request')
    .option('--reason <text>', 'why, recorded in audit_log with the time and who')
    .option('--json', 'print one JSON object instead of a sentence');
  addOperatorOptions(command, ['db', 'durability']);
  addExamples(command, [
    'ratewarden reset-cooldown --reason "upstream confirmed the limit was raised"',
    'ratewarden reset-cooldown --db /var/lib/ratewarden/ratewarden.db --json',
  ]);
  command.action((options: ResetOptions) => {
    const { settings } = resolveSettings(options, settingNames);
    chooseColour();
    const actor = operatorActor();
    const reason = options.reason !== undefined && options.reason.trim() !== '' ? options.reason.trim() : null;
    const warden = Warden.openExisting({ dbPath: settings.db as string, policy: limiterPolicyFrom(settings), clock: Date.now, durability: settings.durability });
    let cleared: Cleared;
    try {
      cleared = warden.resetCooldown(actor, reason);
    } finally {
      warden.close();
    }
    const output = options.json === true ? JSON.stringify({ database: settings.db, actor, reason, ...cleared }, null, 2) : render(cleared, actor);
    process.stdout.write(`${output}\n`);
  });
}

function render(cleared: Cleared, actor: string): string {
  const recorded = kleur.dim(`Recorded in audit_log by ${actor}.`);
  if (!cleared.anything) return `Nothing was in force: no cooldown, no consecutive 429s, backoff level 0, no probe pending. ${recorded}`;
  const parts = [
    cleared.cooldownRemainingMs > 0 ? `the cooldown (${duration(cleared.cooldownRemainingMs)} were left)` : null,
    cleared.halfOpen ? 'the half-open state' : null,
    cleared.probePending ? 'the pending half-open probe' : null,
    cleared.consecutive429s > 0 ? plural(cleared.consecutive429s, 'consecutive 429') : null,
    cleared.backoffLevel > 0 ? `backoff level ${cleared.backoffLevel}` : null,
  ].filter((part): part is string => part !== null);
  return `${kleur.green('Cleared')} ${parts.join(', ')}. A running proxy forwards again from its next request. ${recorded}`;
}
