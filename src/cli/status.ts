import { aliasesByFingerprint, readableScope } from '../core/scopeNames.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { parseDuration } from '../config/durations.js';
import { ConfigError } from '../config/errors.js';
import { maxDurationMs, maxDurationText } from '../config/fields.js';
import { settingNames, type SettingName, type Settings } from '../config/schema.js';
import { assembleStatus, windowStartFor, type StatusReport } from '../core/statusReport.js';
import { localPids } from '../core/processLiveness.js';
import { defaultScope } from '../core/scopes.js';
import { scopeLines } from '../core/scopeTable.js';
import { openStore, thisHostIn } from '../store/openStore.js';
import type { Store } from '../store/port.js';
import { activeScopeMs } from '../warden/warden.js';
import { restartSummaryIn } from '../warden/supervisorLedger.js';
import { chooseColour } from './colour.js';
import { addExamples, addOperatorOptions } from './operatorOptions.js';
import { livePidsAmong } from './pidLiveness.js';
import { resolveSettings } from './settingsOptions.js';
import { heartbeatStaleAfterMs, readRunningPolicies } from './runningPolicies.js';
import { renderStatus } from './statusRender.js';

/** The settings status reads: the window, the limiter's policy, the supervisor's limits. */
const statusSettings: readonly SettingName[] = [
  'db',
  'upstream',
  'window',
  'tokenMetric',
  'tokenBudgetMax',
  'requestBudgetMax',
  'safetyMargin',
  'backoffBase',
  'backoffMax',
  'probeTimeout',
  'minHistory',
  'minConsumption',
  'quietPeriod',
  'restartSec',
  'restartMaxDelay',
  'stableAfter',
  'startLimitBurst',
  'startLimitInterval',
];

const defaultWatchMs = 2_000;
const recentCount = { adjustments: 5, rateLimitEvents: 5 };

interface StatusOptions extends Record<string, unknown> {
  json?: boolean;
  watch?: boolean | string;
  scope?: string;
}

export function registerStatus(program: Command): void {
  const command = program
    .command('status')
    .description('show the proxy\'s state at a glance: processes, every active scope, and one scope\'s window, cooldown, budget, controller and calibration; the supervisor')
    .option('--json', 'print one stable, documented JSON object instead of the human view')
    .option('--scope <scope>', 'show this scope in detail (default: the busiest); the table lists every active scope')
    .option('--watch [interval]', `redraw every interval (default ${defaultWatchMs / 1000}s) until Ctrl-C; with --json, one object per line`);
  addOperatorOptions(command, statusSettings);
  addExamples(command, [
    'ratewarden status',
    'ratewarden status --watch 1s',
    'ratewarden status --json | jq .cooldown',
    'ratewarden status --json | jq \'.scopes[] | {scope, phase, windowTokens}\'',
    'ratewarden status --scope 3f9a1c2b7e04d5a6/claude-haiku',
    'ratewarden status --db /var/lib/ratewarden/ratewarden.db --window 2m',
  ]);
  command.action(async (options: StatusOptions) => {
    const { settings } = resolveSettings(options, settingNames);
    const watchMs = watchInterval(options.watch);
    chooseColour();
    const store = await openStore({ db: settings.db as string, clock: Date.now, readonly: true });
    try {
      const scope = options.scope?.trim();
      if (scope !== undefined && !(await store.read((tx) => tx.status.hasScope(scope)))) {
        throw new ConfigError(`--scope: this database has no scope ${JSON.stringify(scope)}; \`ratewarden status\` lists the scopes`);
      }
      const read = (): Promise<StatusReport> => readStatus(store, settings, scope ?? null);
      if (watchMs === null) {
        const report = await read();
        process.stdout.write(`${options.json === true ? JSON.stringify(report, null, 2) : renderStatus(report)}\n`);
      } else await watch(read, watchMs, options.json === true);
    } finally {
      await store.close();
    }
  });
}

function watchInterval(watch: boolean | string | undefined): number | null {
  if (watch === undefined || watch === false) return null;
  if (watch === true) return defaultWatchMs;
  const ms = parseDuration(watch);
  if (ms === null || ms <= 0) throw new ConfigError(`--watch: ${JSON.stringify(watch)} is not a duration; use e.g. 2s, 500ms`);
  if (ms > maxDurationMs) throw new ConfigError(`--watch: ${JSON.stringify(watch)} is longer than the maximum of ${maxDurationText}; use e.g. 2s, 1m`);
  return ms;
}

/** One read of the store: every part of the report agrees with the others while a proxy keeps writing. */
function readStatus(store: Store, settings: Settings, chosen: string | null): Promise<StatusReport> {
  return store.read(async (tx) => {
    const { now } = tx;
    const thisHost = thisHostIn(store);
    const { limiter, restart } = await readRunningPolicies(tx, settings, now, thisHost);
    const bucketsFrom = windowStartFor(now, limiter.policy);
    const scopeRows = await tx.status.scopeSummaries(bucketsFrom, now - activeScopeMs);
    const scope = chosen ?? scopeLines(scopeRows, now, limiter.policy)[0]?.scope ?? defaultScope;
    const snapshot = await tx.status.snapshot({ bucketsFrom, ...recentCount }, scope);
    const restartHistory = await restartSummaryIn(tx, restart.policy);
    const aliases = aliasesByFingerprint(settings.keyAliases, await tx.groups.organizations());
    const report = assembleStatus({
      database: store.location,
      snapshot,
      now,
      policy: limiter.policy,
      restartHistory,
      startLimit: restart.policy,
      policyOrigins: { worker: limiter.origin, supervisor: restart.origin },
      restartPolicy: restart.policy,
      configuredUpstream: settings.upstream,
      heartbeatStaleAfterMs,
      livePids: livePidsAmong(localPids(snapshot.processes, thisHost)),
      thisHost,
      scope,
      scopeRows,
    });
    return { ...report, scopes: report.scopes.map((line) => ({ ...line, name: readableScope(line.scope, aliases) })) };
  });
}

const cursorHome = '\x1b[H';
const clearToLineEnd = '\x1b[K';
const clearBelow = '\x1b[J';
const hideCursor = '\x1b[?25l';
const showCursor = '\x1b[?25h';

/** Redraws in place on a terminal; elsewhere appends one frame (or one JSON line) per interval. */
async function watch(read: () => Promise<StatusReport>, intervalMs: number, json: boolean): Promise<void> {
  const out = process.stdout;
  const inPlace = out.isTTY === true && !json;
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (inPlace) out.write(`${hideCursor}\x1b[2J`);
  try {
    while (!stop.signal.aborted) {
      const report = await read();
      if (json) out.write(`${JSON.stringify(report)}\n`);
      else if (inPlace) out.write(`${cursorHome}${renderStatus(report).split('\n').join(`${clearToLineEnd}\n`)}${clearToLineEnd}\n${clearBelow}`);
      else out.write(`${renderStatus(report)}\n\n`);
      await sleep(intervalMs, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (inPlace) out.write(showCursor);
  }
}
