import kleur from 'kleur';
import type { Command } from 'commander';
import { settingNames } from '../config/schema.js';
import { ConfigError } from '../config/errors.js';
import { Warden } from '../warden/warden.js';
import type { ScopeCleared } from '../warden/eventTypes.js';
import { openStore, thisHostIn } from '../store/openStore.js';
import { operatorActor } from './actor.js';
import { chooseColour } from './colour.js';
import { addExamples, addOperatorOptions } from './operatorOptions.js';
import { readRunningPolicies } from './runningPolicies.js';
import { resolveSettings } from './settingsOptions.js';
import { count, duration, plural } from './textFormat.js';

interface ResetOptions extends Record<string, unknown> {
  reason?: string;
  json?: boolean;
  scope?: string;
}

type Reset = Awaited<ReturnType<Warden['resetCooldown']>>;

/** What was cleared, over every scope: the longest cooldown, the highest counts (one scope: exactly its own). */
function overall(reset: Reset): Omit<ScopeCleared, 'scope'> {
  const cleared = reset.scopes.filter((entry) => entry.anything);
  return {
    anything: reset.anything,
    cooldownRemainingMs: Math.max(0, ...cleared.map((entry) => entry.cooldownRemainingMs)),
    halfOpen: cleared.some((entry) => entry.halfOpen),
    probePending: cleared.some((entry) => entry.probePending),
    consecutive429s: Math.max(0, ...cleared.map((entry) => entry.consecutive429s)),
    backoffLevel: Math.max(0, ...cleared.map((entry) => entry.backoffLevel)),
    cutsCleared: cleared.flatMap((entry) => entry.cutsCleared),
  };
}

export function registerResetCooldown(program: Command): void {
  const command = program
    .command('reset-cooldown')
    .description(
      'clear the cooldown, the consecutive-429 count, the backoff level, a pending probe and budget cuts (back to known-good); a running proxy obeys at its next request',
    )
    .option('--reason <text>', 'why, recorded in audit_log with the time and who')
    .option('--scope <scope>', 'clear one scope only (as `ratewarden status` names it); default: every scope')
    .option('--json', 'print one JSON object instead of a sentence');
  addOperatorOptions(command, ['db', 'durability']);
  addExamples(command, [
    'ratewarden reset-cooldown --reason "upstream confirmed the limit was raised"',
    'ratewarden reset-cooldown --db /var/lib/ratewarden/ratewarden.db --json',
    'ratewarden reset-cooldown --scope 3f9a1c2b7e04d5a6/claude-opus',
  ]);
  command.action(async (options: ResetOptions) => {
    const { settings } = resolveSettings(options, settingNames);
    chooseColour();
    const actor = operatorActor();
    const reason = options.reason !== undefined && options.reason.trim() !== '' ? options.reason.trim() : null;
    const scope = options.scope?.trim() ?? null;
    const store = await openStore({ db: settings.db as string, clock: Date.now, durability: settings.durability, mustExist: true });
    // Known-good (what a cut is cleared to) is the running proxy's: its window, margin and limit period, as it recorded them.
    let policy;
    try {
      policy = (await store.read((tx) => readRunningPolicies(tx, settings, tx.now, thisHostIn(store)))).limiter.policy;
    } catch (error) {
      await store.close();
      throw error;
    }
    const warden = Warden.openExisting({ store, policy, clock: Date.now, heldFile: null });
    let reset: Reset;
    try {
      if (scope !== null && !(await warden.views.hasScope(scope))) {
        throw new ConfigError(`--scope: this database has no scope ${JSON.stringify(scope)}; \`ratewarden status\` lists the scopes`);
      }
      reset = await warden.resetCooldown(actor, reason, scope);
    } finally {
      await warden.close();
    }
    const output =
      options.json === true
        ? JSON.stringify(
            {
              database: warden.location,
              actor,
              reason,
              scope: scope ?? 'all',
              ...overall(reset),
              scopes: reset.scopes.filter((entry) => entry.anything || entry.scope === scope),
            },
            null,
            2,
          )
        : render(reset, actor);
    process.stdout.write(`${output}\n`);
  });
}

function render(reset: Reset, actor: string): string {
  const recorded = kleur.dim(`Recorded in audit_log by ${actor}.`);
  if (!reset.anything)
    return `Nothing was in force: no cooldown, no consecutive 429s, backoff level 0, no probe pending, no budget cut. ${recorded}`;
  const cleared = reset.scopes.filter((entry) => entry.anything);
  const what = cleared.map((entry) =>
    cleared.length === 1 ? `${partsOf(entry)}. Scope: ${entry.scope}` : `${entry.scope}: ${partsOf(entry)}`,
  );
  const lead = cleared.length === 1 ? `${kleur.green('Cleared')} ` : `${kleur.green('Cleared')} ${cleared.length} scopes: `;
  return `${lead}${what.join('; ')}. A running proxy forwards again from its next request. ${recorded}`;
}

function partsOf(cleared: ScopeCleared): string {
  const parts = [
    cleared.cooldownRemainingMs > 0 ? `the cooldown (${duration(cleared.cooldownRemainingMs)} were left)` : null,
    cleared.halfOpen ? 'the half-open state' : null,
    cleared.probePending ? 'the pending half-open probe' : null,
    cleared.consecutive429s > 0 ? plural(cleared.consecutive429s, 'consecutive 429') : null,
    cleared.backoffLevel > 0 ? `backoff level ${cleared.backoffLevel}` : null,
    ...cleared.cutsCleared.map((cut) => `the ${cut.kind} budget cut (${count(cut.from)} → ${count(cut.to)}, known-good)`),
  ].filter((part): part is string => part !== null);
  return parts.join(', ');
}
