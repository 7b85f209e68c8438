import { aliasesByFingerprint, readableScope } from '../core/scopeNames.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { parseDuration } from '../config/durations.js';
import { ConfigError } from '../config/errors.js';
import { maxDurationMs, maxDurationText } from '../config/fields.js';
import { settingNames, type Settings } from '../config/schema.js';
import { assembleStatus, queueOfRunningWorkers, windowStartFor, type StatusReport } from '../core/statusReport.js';
import { localPids } from '../core/processLiveness.js';
import { historyLimits, historySince, statusHistory, supervisorEventsRead, type LiveView } from '../core/statusHistory.js';
import { defaultScope } from '../core/scopes.js';
import { scopeLines, type ScopeLine } from '../core/scopeTable.js';
import { openStore, thisHostIn } from '../store/openStore.js';
import type { Store } from '../store/port.js';
import { activeScopeMs } from '../warden/scopeLedger.js';
import { restartSummaryIn } from '../warden/restartSummary.js';
import { chooseColour } from './colour.js';
import { addExamples, addOperatorOptions } from './operatorOptions.js';
import { livePidsAmong } from './pidLiveness.js';
import { resolveSettings } from './settingsOptions.js';
import { heartbeatStaleAfterMs, readRunningPolicies } from './runningPolicies.js';
import { renderStatus, type StatusLayout } from './statusRender.js';
import { defaultWebAddress, serveStatusPage, webAddress } from './statusWeb.js';

const defaultWatchMs = 2_000;
const recentCount = { adjustments: 5, rateLimitEvents: 5 };

interface StatusOptions extends Record<string, unknown> {
  json?: boolean;
  watch?: boolean | string;
  scope?: string;
  web?: boolean | string;
}

export function registerStatus(program: Command): void {
  const command = program
    .command('status')
    .description(
      "show the proxy's state at a glance: processes, every active scope, and one scope's window, cooldown, budget, controller and calibration; the supervisor",
    )
    .option('--json', 'print one stable, documented JSON object instead of the human view')
    .option('--scope <scope>', 'show this scope in detail (default: the busiest); the table lists every active scope')
    .option(
      '--watch [interval]',
      `redraw every interval (default ${defaultWatchMs / 1000}s) until Ctrl-C; with --json, one object per line`,
    )
    .option(
      '--web [address]',
      `serve the live page of this database at http://ADDRESS/_ratewarden/ until Ctrl-C (default ${defaultWebAddress.host}:${defaultWebAddress.port}; docs/page.md)`,
    );
  // The others describe the policy only when no proxy has recorded its own: accepted, not listed.
  addOperatorOptions(command, ['db', 'allowRemote']);
  addExamples(command, [
    'ratewarden status',
    'ratewarden status --watch 1s',
    'ratewarden status --json | jq .cooldown',
    "ratewarden status --json | jq '.scopes[] | {scope, phase, windowTokens}'",
    'ratewarden status --scope 3f9a1c2b7e04d5a6/claude-haiku',
    'ratewarden status --web',
    'ratewarden status --db /var/lib/ratewarden/ratewarden.db',
  ]);
  command.action(async (options: StatusOptions) => {
    const { settings } = resolveSettings(options, settingNames);
    const watchMs = watchInterval(options.watch);
    const web = options.web === undefined ? null : webAddress(options.web, settings.allowRemote);
    chooseColour();
    const store = await openStore({ db: settings.db as string, clock: Date.now, readonly: true });
    try {
      if (web !== null) {
        await serveStatusPage(store, settings, web, process.stdout);
        return;
      }
      const scope = options.scope?.trim();
      if (scope !== undefined && !(await store.read((tx) => tx.status.hasScope(scope)))) {
        throw new ConfigError(`--scope: this database has no scope ${JSON.stringify(scope)}; \`ratewarden status\` lists the scopes`);
      }
      const read = (): Promise<StatusReport> => readStatus(store, settings, scope ?? null);
      const layout = (): StatusLayout => {
        const height = terminalHeight();
        return { height, detail: scope !== undefined || height === null };
      };
      if (watchMs === null) {
        const report = await read();
        process.stdout.write(`${options.json === true ? JSON.stringify(report, null, 2) : renderStatus(report, layout())}\n`);
      } else await watch(read, watchMs, options.json === true, layout);
    } finally {
      await store.close();
    }
  });
}

/** The terminal's rows; LINES when the output is not a terminal but the shell exported it; else null (no screen to fit). */
function terminalHeight(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): number | null {
  if (stream.isTTY === true && stream.rows > 0) return stream.rows;
  const lines = Number(env.LINES);
  return Number.isInteger(lines) && lines > 0 ? lines : null;
}

function watchInterval(watch: boolean | string | undefined): number | null {
  if (watch === undefined || watch === false) return null;
  if (watch === true) return defaultWatchMs;
  const ms = parseDuration(watch);
  if (ms === null || ms <= 0) throw new ConfigError(`--watch: ${JSON.stringify(watch)} is not a duration; use e.g. 2s, 500ms`);
  if (ms > maxDurationMs)
    throw new ConfigError(`--watch: ${JSON.stringify(watch)} is longer than the maximum of ${maxDurationText}; use e.g. 2s, 1m`);
  return ms;
}

/**
 * One read of the store: every part of the report agrees with the others while a proxy keeps
 * writing. `live` is what only the proxy serving the live page knows (its queue).
 */
export function readStatus(store: Store, settings: Settings, chosen: string | null, live?: LiveView): Promise<StatusReport> {
  return store.read(async (tx) => {
    const { now } = tx;
    const thisHost = thisHostIn(store);
    const { limiter, restart } = await readRunningPolicies(tx, settings, now, thisHost);
    const bucketsFrom = windowStartFor(now, limiter.policy);
    const scopeRows = await tx.status.scopeSummaries(bucketsFrom, now - activeScopeMs);
    // The detail is of the scope in the worst trouble, as the table lists it.
    const queue = queueOfRunningWorkers(await tx.processes.heartbeats(), now, heartbeatStaleAfterMs);
    const scope = chosen ?? scopeLines(scopeRows, now, limiter.policy, queue)[0]?.scope ?? defaultScope;
    const snapshot = await tx.status.snapshot({ bucketsFrom, ...recentCount }, scope);
    const restartHistory = await restartSummaryIn(tx, restart.policy);
    const history = statusHistory(
      await tx.status.history({ since: historySince(now), ...historyLimits }),
      await tx.supervisor.recent(supervisorEventsRead),
      now,
    );
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
      history,
      live,
    });
    // An operator's key alias names the key's scopes (scopeNames.ts); the label says the rest.
    return { ...report, scopes: report.scopes.map((line) => aliasedLine(line, aliases)) };
  });
}

const cursorHome = '\x1b[H';
const clearToLineEnd = '\x1b[K';
const clearBelow = '\x1b[J';
const hideCursor = '\x1b[?25l';
const showCursor = '\x1b[?25h';

/** Redraws in place on a terminal; elsewhere appends one frame (or one JSON line) per interval. */
async function watch(read: () => Promise<StatusReport>, intervalMs: number, json: boolean, layout: () => StatusLayout): Promise<void> {
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
      else if (inPlace) {
        // Never more lines than the screen has: the header must not scroll away.
        const { height, detail } = layout();
        const lines = renderStatus(report, { height, detail })
          .split('\n')
          .slice(0, Math.max(1, (height ?? out.rows) - 1));
        out.write(`${cursorHome}${lines.join(`${clearToLineEnd}\n`)}${clearToLineEnd}\n${clearBelow}`);
      } else out.write(`${renderStatus(report, layout())}\n\n`);
      await sleep(intervalMs, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (inPlace) out.write(showCursor);
  }
}

function aliasedLine(line: ScopeLine, aliases: ReadonlyMap<string, string>): ScopeLine {
  const aliased = readableScope(line.scope, aliases);
  return aliased === line.scope ? line : { ...line, label: aliased };
}
