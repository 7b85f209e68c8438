import kleur from 'kleur';
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { limiterPolicyFrom } from '../config/policy.js';
import { settingNames, type Settings } from '../config/schema.js';
import { calibrationReport, type CalibrationReport } from '../core/calibrationReport.js';
import type { RunningPolicy } from '../core/runningPolicy.js';
import type { LimiterPolicy } from '../core/types.js';
import { StatusView, type CalibrationData } from '../store/statusView.js';
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
    .description('summarise the calibration samples and the estimate of the upstream\'s limit; --prune-zero removes zero-token samples')
    .option('--prune-zero', 'delete every sample with zero tokens, in one transaction recorded in audit_log')
    .option('--dry-run', 'with --prune-zero: only count what would be deleted')
    .option('--json', 'print one JSON object instead of the human view');
  addOperatorOptions(command, ['db', 'durability']);
  addExamples(command, [
    'ratewarden calibrate',
    'ratewarden calibrate --prune-zero --dry-run',
    'ratewarden calibrate --prune-zero',
    'ratewarden calibrate --json',
  ]);
  command.action((options: CalibrateOptions) => {
    if (options.dryRun === true && options.pruneZero !== true) {
      throw new ConfigError('--dry-run only applies to --prune-zero; use "ratewarden calibrate --prune-zero --dry-run"');
    }
    const { settings } = resolveSettings(options, settingNames);
    chooseColour();
    const { data, prune, running } = options.pruneZero === true && options.dryRun !== true ? pruneZero(settings) : readOnly(settings, options.pruneZero === true);
    const report = calibrationReport(data.sampleCounts, data.sampleSummaries, data.reported);
    const policy = { ...running.origin, values: running.policy };
    const output = options.json === true ? JSON.stringify({ database: settings.db, policy, ...report, prune }, null, 2) : render(settings.db as string, report, prune, running);
    process.stdout.write(`${output}\n`);
  });
}

/** Safe while the proxy runs: the deletion is one short IMMEDIATE transaction through the warden. */
interface CalibrateRead {
  data: CalibrationData;
  prune: PruneResult | null;
  /** The running proxy's limiter policy: the window the estimate is per. */
  running: RunningPolicy<LimiterPolicy>;
}

function pruneZero(settings: Settings): CalibrateRead {
  const actor = operatorActor();
  const warden = Warden.openExisting({ dbPath: settings.db as string, policy: limiterPolicyFrom(settings), clock: Date.now, durability: settings.durability });
  try {
    const removed = warden.pruneZeroSamples(actor, { dryRun: false });
    const view = new StatusView(warden.db);
    return { data: view.calibration(), prune: { dryRun: false, zeroTokenSamples: removed, removed, actor }, running: readRunningPolicies(view, settings, Date.now()).limiter };
  } finally {
    warden.close();
  }
}

function readOnly(settings: Settings, dryRun: boolean): CalibrateRead {
  const view = StatusView.openReadonly(settings.db as string);
  try {
    const data = view.calibration();
    const zero = data.sampleCounts.reduce((sum, kind) => sum + kind.zeroTokens, 0);
    const running = readRunningPolicies(view, settings, Date.now()).limiter;
    return { data, prune: dryRun ? { dryRun: true, zeroTokenSamples: zero, removed: 0, actor: null } : null, running };
  } finally {
    view.close();
  }
}

function render(database: string, report: CalibrationReport, prune: PruneResult | null, running: RunningPolicy<LimiterPolicy>): string {
  const lines = [
    `${heading('ratewarden calibrate')}  ${kleur.dim(database)}`,
    row('policy', `${limiterPolicyText(running.policy)}  ${policyOriginText(running.origin, 'worker', Date.now())}`),
  ];
  if (prune !== null && prune.dryRun) {
    lines.push(`Dry run: would remove ${plural(prune.zeroTokenSamples, 'zero-token sample')}; nothing was changed.`);
  } else if (prune !== null) {
    lines.push(`Removed ${plural(prune.removed, 'zero-token sample')} (audit_log: prune-zero-samples by ${prune.actor}).`);
  }
  return [...lines, ...renderCalibrationLines(report)].join('\n');
}
