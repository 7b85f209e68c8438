import { dirname } from 'node:path';
import { defaultDatabasePath } from '../config/paths.js';
import { limiterPolicyFrom } from '../config/policy.js';
import type { Settings } from '../config/schema.js';
import { queueStateOf } from '../core/queueState.js';
import type { LimiterPolicy } from '../core/types.js';
import type { Clock } from '../kernel/clock.js';
import { silentLogger, summariseRepeats, type Logger } from '../kernel/log.js';
import { heldFileFor, openStore } from '../store/openStore.js';
import { Warden } from '../warden/warden.js';
import { AdmissionQueue } from '../proxy/admissionQueue.js';
import { CachedShareLearner } from '../proxy/cachedShareLearner.js';
import { crashingAfter429s } from '../proxy/crashAfter429s.js';
import type { ProxyRuntime } from '../proxy/handleRequest.js';
import { healthReport } from '../proxy/health.js';
import { ProxyMetrics } from '../proxy/metrics.js';
import { metricsSourcesFor } from '../proxy/metricsSources.js';
import type { PageFactory } from '../proxy/pageEndpoint.js';
import { providerChooser } from '../proxy/providers/adapter.js';
import { RefusalCounter } from '../proxy/refusalCounter.js';
import { RefusalHistory } from '../proxy/refusalHistory.js';
import { cappedScopes, maxNewScopesPerMinute, maxScopesPerProcess, overflowScope } from '../proxy/scopeCap.js';
import { scopeChooser } from '../proxy/scopeOf.js';
import { ProxyServer, type ListenTarget, type RunningProxy } from '../proxy/server.js';
import { sessionLabel } from '../proxy/sessionOf.js';
import { checkWorkerSettings } from '../proxy/startupChecks.js';
import { UpstreamRoutes } from '../proxy/upstreamRoutes.js';
import { announceStart, startBeating, stopWorker, type WorkerLife, type WorkerParts, type WorkerLogs } from './workerLife.js';

/** How often `--unsafe-retry-rate-limited-after` resends one request before it lets the 429 through. */
const unsafeRetry429Resends = 3;

export interface ProxyOptions {
  listenOn?: ListenTarget;
  clock?: Clock;
  log?: Logger;
  /** How long a write waits for another process's lock before the request is answered 503. */
  busyTimeoutMs?: number;
  /** Serves the live page at /_ratewarden/ (cli/ builds it; `--no-page` leaves it out). */
  page?: PageFactory;
}

function workerLogs(settings: Settings, base: Logger, clock: Clock): WorkerLogs {
  // The fault injection sees every 429 event, before repeats are summarised away.
  const summarising = summariseRepeats(base, { intervalMs: settings.logRepeatInterval, now: clock });
  return { base, summarising, log: crashingAfter429s(summarising, settings.unsafeCrashAfterRateLimits, settings.window, clock) };
}

type OpenedWarden = Pick<WorkerParts, 'store' | 'warden' | 'heldFile' | 'secret'>;

/** The store and the warden over it; a warden that cannot give its fingerprint secret is closed again. */
async function openWarden(
  settings: Settings,
  policy: LimiterPolicy,
  clock: Clock,
  log: Logger,
  busyTimeoutMs: number | undefined,
): Promise<OpenedWarden> {
  const db = settings.db as string;
  const store = await openStore({
    db,
    clock,
    durability: settings.durability,
    busyTimeoutMs,
    checkpointErrors: (line) => log.warn('checkpoint-failed', line),
  });
  const heldFile = heldFileFor(db, dirname(defaultDatabasePath(process.env)));
  const warden = await Warden.open({ store, policy, clock, heldFile, scopeBudgets: settings.scopeBudgets });
  try {
    return { store, warden, heldFile, secret: await warden.views.fingerprintSecret() };
  } catch (error) {
    await warden.close();
    throw error;
  }
}

/** The worker's parts around the warden: upstreams, the admission queue, metrics, the refusal tallies and the server. */
function workerParts(settings: Settings, clock: Clock, logs: WorkerLogs, policy: LimiterPolicy, opened: OpenedWarden): WorkerParts {
  const { warden, store } = opened;
  const upstreams = UpstreamRoutes.fromSetting(settings.upstream as string, settings.upstreamTimeout);
  const metrics = new ProxyMetrics(metricsSourcesFor(warden, store, settings, clock));
  metrics.traffic.watchBudgetChanges(warden.budgetEvents);
  const queue = new AdmissionQueue(warden, clock, { maxWaitMs: settings.maxWait, maxQueue: settings.maxQueue });
  metrics.traffic.watchQueue(() => queueStateOf(queue.waitingByScope(), clock(), Number.POSITIVE_INFINITY));
  return {
    ...opened,
    settings,
    clock,
    logs,
    policy,
    upstreams,
    queue,
    metrics,
    refusals: new RefusalCounter(),
    refusalHistory: new RefusalHistory(clock),
    server: new ProxyServer(),
    startedAt: clock(),
    identity: { url: '', upstream: upstreams.describe(), provider: settings.provider },
  };
}

/** Everything one request needs, handed to the proxy's server. */
function requestRuntime(parts: WorkerParts, life: WorkerLife, upstream: URL, page: PageFactory | undefined): ProxyRuntime {
  const { settings, warden, queue, clock, policy, server } = parts;
  const { log } = parts.logs;
  return {
    upstreams: parts.upstreams,
    providers: providerChooser(upstream, settings.provider),
    scopeOf: cappedScopeChooser(parts),
    warden,
    queue,
    clock,
    log,
    limits: {
      maxBodyBytes: settings.maxBody,
      maxWaitMs: settings.maxWait,
      defaultMaxTokens: settings.defaultMaxTokens,
      outputReserveMax: settings.outputReserveMax,
      unsafeRetry429: { afterMs: settings.unsafeRetryRateLimitedAfter, resends: unsafeRetry429Resends },
    },
    recorderSetup: {
      warden,
      tokenMetric: policy.tokenMetric,
      limitShape: settings.limitShape,
      clock,
      log,
      onSettled: () => queue.nudge(),
      cachedShares: new CachedShareLearner(clock),
    },
    refusals: parts.refusals,
    health: () => workerHealth(parts, life),
    metrics: parts.metrics,
    page: livePage(parts, page),
    stopping: () => server.stopping,
  };
}

/** At most so many new scopes a minute and in all; past them, one shared scope (scopeCap.ts). */
function cappedScopeChooser(parts: WorkerParts): ProxyRuntime['scopeOf'] {
  const { settings, warden, clock, secret } = parts;
  const { log } = parts.logs;
  return cappedScopes(
    scopeChooser({
      secret,
      by: settings.scopeBy,
      families: settings.scopeFamilies,
      ownerOf: (fingerprint) => warden.organizations.ownerOf(fingerprint),
    }),
    clock,
    (scope) =>
      log.warn(
        'scope-overflow',
        `more new scopes than ${maxNewScopesPerMinute} a minute or ${maxScopesPerProcess} in all (the latest: ${scope}); requests of new keys are counted together in scope ${overflowScope} until then`,
      ),
  );
}

/** The health report, asked afresh on each probe: the heartbeat and the ticker exist only once the worker listens. */
function workerHealth(parts: WorkerParts, life: WorkerLife): ReturnType<ProxyRuntime['health']> {
  const { warden, policy, clock, server, identity } = parts;
  return healthReport({
    warden,
    policy,
    clock,
    startedAt: parts.startedAt,
    identity,
    beat: async () => {
      await life.heartbeat?.beat();
    },
    inFlight: () => server.inFlightCount,
    stopping: () => server.stopping,
    unsettled: () => life.ticker?.unsettled() ?? new Map(),
  });
}

/** The live page at /_ratewarden/, when cli/ gave one: the store's history plus this worker's queue and refusals. */
function livePage(parts: WorkerParts, page: PageFactory | undefined): ProxyRuntime['page'] {
  const { store, queue, secret, identity, refusalHistory } = parts;
  return page?.({
    store,
    live: () => ({
      proxy: identity.url,
      queue: queue.queueLines((session) => sessionLabel(session, secret)),
      refusals: refusalHistory.counts(),
      refusalsSince: refusalHistory.since,
    }),
  });
}

/**
 * The worker's composition root: opens the store, builds the warden and the worker's parts,
 * hands them to the proxy's server, then starts the heartbeat and the ticker. Used by
 * `ratewarden run --no-supervise` (cli/worker.ts) and in-process by tests and benchmarks.
 */
export async function startProxy(settings: Settings, options: ProxyOptions = {}): Promise<RunningProxy> {
  const upstream = checkWorkerSettings(settings);
  const clock = options.clock ?? Date.now;
  const logs = workerLogs(settings, options.log ?? silentLogger, clock);
  const policy = limiterPolicyFrom(settings);
  const parts = workerParts(settings, clock, logs, policy, await openWarden(settings, policy, clock, logs.log, options.busyTimeoutMs));
  const life: WorkerLife = { heartbeat: null, ticker: null };
  const runtime = requestRuntime(parts, life, upstream, options.page);
  const onLocalReply = (status: number, reason: string): void => parts.refusalHistory.add(status, reason);
  let bound: { url: string; port: number };
  try {
    bound = await parts.server.listen({ runtime, address: settings.listen, target: options.listenOn ?? { kind: 'address' }, onLocalReply });
  } catch (error) {
    parts.upstreams.close();
    await parts.warden.close();
    throw error;
  }
  parts.identity.url = bound.url;
  const ticker = await startBeating(parts, life, bound.url);
  announceStart(parts, bound.url);
  let closing: Promise<void> | null = null;
  return {
    url: bound.url,
    port: bound.port,
    provider: settings.provider,
    warden: parts.warden,
    queueLength: () => parts.queue.length,
    close(graceMs = settings.stopTimeout) {
      closing ??= stopWorker(parts, life, ticker, graceMs);
      return closing;
    },
    cutOff: () => parts.server.cutOff(),
    adopt: (socket) => parts.server.adopt(socket),
  };
}
