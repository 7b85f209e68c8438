import kleur from 'kleur';
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { limiterPolicyFrom } from '../config/policy.js';
import { settingNames, type Settings } from '../config/schema.js';
import { calibrationReport, type CalibrationReport } from '../core/calibrationReport.js';
import type { RunningPolicy } from '../core/runningPolicy.js';
import type { LimiterPolicy } from '../core/types.js';
import { openStore, storeLocationOf, thisHostIn } from '../store/openStore.js';
import type { CalibrationData, StoreTransaction } from '../store/port.js';
import { Warden } from '../warden/warden.js';
import { operatorActor } from './actor.js';
import { renderCalibrationLines } from './calibrationRender.js';
import { limiterPolicyText, policyOriginText } from './policyRender.js';
import { readRunningPolicies } from './runningPolicies.js';
import { chooseColour } from './colour.js';
import { addExamples, addOperatorOptions } from './operatorOptions.js';
import { resolveSettings } from './settingsOptions.js';
import { heading, plural, row } from './textFormat.js';

interface CalibrateOptions extends Record<string, unknown> {
  pruneZero?: boolean;
  dryRun?: boolean;
  json?: boolean;
  scope?: string;
}

interface PruneResult {
  dryRun: boolean;
  /** Zero-token samples found. */
  zeroTokenSamples: number;
  /** Removed: equal to the count found, or 0 on a dry run. */
  removed: number;
  actor: string | null;
}

export function registerCalibrate(program: Command): void {
  const command = program
    .command('calibrate')
    .description("summarise the calibration samples and the estimate of the upstream's limit; --prune-zero removes zero-token samples")
    .option('--prune-zero', 'delete every sample with zero tokens, in one transaction recorded in audit_log')
    .option('--dry-run', 'with --prune-zero: only count what would be deleted')
    .option('--json', 'print one JSON object instead of the human view')
    .option('--scope <scope>', 'report this scope only (default: every scope that holds samples, the richest first)');
  addOperatorOptions(command, ['db', 'durability']);
  addExamples(command, [
    'ratewarden calibrate',
    'ratewarden calibrate --prune-zero --dry-run',
    'ratewarden calibrate --prune-zero',
    'ratewarden calibrate --json',
    'ratewarden calibrate --scope 3f9a1c2b7e04d5a6/claude-sonnet',
  ]);
  command.action(async (options: CalibrateOptions) => {
    if (options.dryRun === true && options.pruneZero !== true) {
      throw new ConfigError('--dry-run only applies to --prune-zero; use "ratewarden calibrate --prune-zero --dry-run"');
    }
    const { settings } = resolveSettings(options, settingNames);
    chooseColour();
    const scope = options.scope?.trim() ?? null;
    const { data, prune, running } =
      options.pruneZero === true && options.dryRun !== true
        ? await pruneZero(settings, scope)
        : await readOnly(settings, options.pruneZero === true, scope);
    const reports = data.map((entry) => ({
      scope: entry.scope,
      ...calibrationReport(entry.sampleCounts, entry.sampleSummaries, entry.reported),
    }));
    const first = reports[0] as (typeof reports)[number];
    const policy = { ...running.origin, values: running.policy };
    // The top level is the first scope's (the one asked for, or the one with the most samples), as before scopes; `scopes` has every one.
    const output =
      options.json === true
        ? JSON.stringify({ database: storeLocationOf(settings.db as string), policy, ...first, scopes: reports, prune }, null, 2)
        : render(storeLocationOf(settings.db as string), reports, prune, running);
    process.stdout.write(`${output}\n`);
  });
}

/** Safe while the proxy runs: the deletion is one short IMMEDIATE transaction through the warden. */
interface CalibrateRead {
  /** Per scope, the one with the most samples first; never empty. */
  data: (CalibrationData & { scope: string })[];
  prune: PruneResult | null;
  /** The running proxy's limiter policy: the window the estimate is per. */
  running: RunningPolicy<LimiterPolicy>;
}

/** The scopes to report: the one asked for (which must exist), or every scope with samples, the most first. */
async function scopeData({ status }: StoreTransaction, scope: string | null): Promise<(CalibrationData & { scope: string })[]> {
  if (scope !== null) {
    if (!(await status.hasScope(scope)) && !(await status.calibratedScopes()).includes(scope)) {
      throw new ConfigError(`--scope: this database has no scope ${JSON.stringify(scope)}; \`ratewarden status\` lists the scopes`);
    }
    return [{ scope, ...(await status.calibration(scope)) }];
  }
  const all: (CalibrationData & { scope: string })[] = [];
  for (const name of await status.calibratedScopes()) all.push({ scope: name, ...(await status.calibration(name)) });
  const samples = (entry: CalibrationData): number => entry.sampleCounts.reduce((sum, kind) => sum + kind.count, 0);
  return all.sort((a, b) => samples(b) - samples(a) || a.scope.localeCompare(b.scope));
}

async function pruneZero(settings: Settings, scope: string | null): Promise<CalibrateRead> {
  const actor = operatorActor();
  const store = await openStore({ db: settings.db as string, clock: Date.now, durability: settings.durability, mustExist: true });
  const warden = Warden.openExisting({ store, policy: limiterPolicyFrom(settings), clock: Date.now, heldFile: null });
  try {
    const removed = await warden.views.pruneZeroSamples(actor, { dryRun: false });
    return await store.read(async (tx) => ({
      data: await scopeData(tx, scope),
      prune: { dryRun: false, zeroTokenSamples: removed, removed, actor },
      running: (await readRunningPolicies(tx, settings, tx.now, thisHostIn(store))).limiter,
    }));
  } finally {
    await warden.close();
  }
}

async function readOnly(settings: Settings, dryRun: boolean, scope: string | null): Promise<CalibrateRead> {
  const store = await openStore({ db: settings.db as string, clock: Date.now, readonly: true });
  try {
    return await store.read(async (tx) => {
      const data = await scopeData(tx, scope);
      const zero = data.reduce((total, entry) => total + entry.sampleCounts.reduce((sum, kind) => sum + kind.zeroTokens, 0), 0);
      const running = (await readRunningPolicies(tx, settings, tx.now, thisHostIn(store))).limiter;
      return { data, prune: dryRun ? { dryRun: true, zeroTokenSamples: zero, removed: 0, actor: null } : null, running };
    });
  } finally {
    await store.close();
  }
}

function render(
  database: string,
  reports: (CalibrationReport & { scope: string })[],
  prune: PruneResult | null,
  running: RunningPolicy<LimiterPolicy>,
): string {
  const lines = [
    `${heading('ratewarden calibrate')}  ${kleur.dim(database)}`,
    row('policy', `${limiterPolicyText(running.policy)}  ${policyOriginText(running.origin, 'worker', Date.now())}`),
  ];
  if (prune !== null && prune.dryRun) {
    lines.push(`Dry run: would remove ${plural(prune.zeroTokenSamples, 'zero-token sample')}; nothing was changed.`);
  } else if (prune !== null) {
    lines.push(`Removed ${plural(prune.removed, 'zero-token sample')} (audit_log: prune-zero-samples by ${prune.actor}).`);
  }
  for (const report of reports) lines.push('', heading(`Scope ${report.scope}`), ...renderCalibrationLines(report));
  return lines.join('\n');
}
