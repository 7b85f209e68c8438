import type { LimiterState } from '../core/types.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { limiterPolicyFrom } from '../config/policy.js';
import { kebabName, settingNames, settingsSchema, type Settings } from '../config/schema.js';
import { dirname } from 'node:path';
import { defaultDatabasePath } from '../config/paths.js';
import { StoreError } from '../store/errors.js';
import { heldFileFor, openStore } from '../store/openStore.js';
import { StoreUnavailableError } from '../store/unavailable.js';
import { Heartbeat } from '../warden/heartbeat.js';
import { queueStateOf } from '../core/queueState.js';
import type { Clock } from '../kernel/clock.js';
import { Warden } from '../warden/warden.js';
import { scopeChooser } from './scopeOf.js';
import { AdmissionQueue } from './admissionQueue.js';
import { handleRequest, type ProxyRuntime } from './handleRequest.js';
import { healthReport } from './health.js';
import { cappedScopes, maxNewScopesPerMinute, maxScopesPerProcess, overflowScope } from './scopeCap.js';
import { InFlightRequests } from './inFlight.js';
import { sessionLabel } from './sessionOf.js';
import { cannotListenLine, urlFor } from './listenAddress.js';
import { crashingAfter429s } from './crashAfter429s.js';
import { silentLogger, summariseRepeats, type Logger } from '../kernel/log.js';
import { localReasonOf, sendLocalReply } from './localReplies.js';
import { ProxyMetrics } from './metrics.js';
import { metricsSourcesFor } from './metricsSources.js';
import type { PageFactory } from './pageEndpoint.js';
import { providerChooser } from './providers/adapter.js';
import { checkWorkerSettings } from './startupChecks.js';
import type { ProviderName } from './providers/types.js';
import { RefusalCounter } from './refusalCounter.js';
import { RefusalHistory } from './refusalHistory.js';
import { pathOf } from './target.js';
import { startTicker, type Ticker } from './ticker.js';
import { CachedShareLearner } from './cachedShareLearner.js';
import { UpstreamRoutes } from './upstreamRoutes.js';

/** How often `--unsafe-retry-rate-limited-after` resends one request before it lets the 429 through. */
const unsafeRetry429Resends = 3;

/**
 * Where the worker accepts connections: the configured address (`--no-supervise`), the socket its
 * supervisor hands it, or a socket passed by systemd as a file descriptor.
 */
/** Where the worker listens: its own address, the supervisor's socket (asked for when it is about to listen), or systemd's fd. */
export type ListenTarget = { kind: 'address' } | { kind: 'handle'; take: () => Promise<NetServer> } | { kind: 'fd'; fd: number };

export interface ProxyOptions {
  listenOn?: ListenTarget;
  clock?: Clock;
  log?: Logger;
  /** How long a write waits for another process's lock before the request is answered 503. */
  busyTimeoutMs?: number;
  /** Serves the live page at /_ratewarden/ (cli/ builds it; `--no-page` leaves it out). */
  page?: PageFactory;
}

export interface RunningProxy {
  /** `http://HOST:PORT`, with the port the OS picked when listening on port 0. */
  readonly url: string;
  readonly port: number;
  /** The `--provider` setting: `auto` chooses per request. */
  readonly provider: 'auto' | ProviderName;
  readonly warden: Warden;
  /** Requests waiting for budget right now. */
  queueLength(): number;
  /**
   * Stops accepting, lets in-flight requests finish for up to `--stop-timeout` (or `graceMs`),
   * then cuts off the rest; settles everything and closes the database. Idempotent.
   */
  close(graceMs?: number): Promise<void>;
  /** Ends the grace period of a close in progress at once (a second Ctrl-C). */
  cutOff(): void;
  /** Serves a connection accepted elsewhere (by the supervisor, on the same socket); nothing may have been read from it. */
  adopt(socket: Socket): void;
}

/*
 * Bounds on what a client may send: slow or oversized headers cannot hold a socket or memory.
 * The request timeout covers receiving the request only, never a long streamed answer.
 */
const headersTimeoutMs = 20_000;
const requestTimeoutMs = 120_000;
const maxHeaderBytes = 32 * 1024;

function listen(server: Server, settings: Settings, target: ListenTarget): Promise<void> {
  const { host, port } = settings.listen;
  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException): void => {
      reject(new Error(target.kind === 'address' ? cannotListenLine(host, port, error) : `cannot accept on the socket handed to ratewarden: ${error.code ?? error.message}`));
    };
    server.once('error', failed);
    const listening = (): void => {
      server.off('error', failed);
      resolve();
    };
    switch (target.kind) {
      case 'address':
        server.listen({ host, port }, listening);
        break;
      case 'handle':
        target.take().then((handed) => server.listen(handed, listening), failed);
        break;
      case 'fd':
        server.listen({ fd: target.fd }, listening);
        break;
    }
  });
}

/** The `--unsafe-*` switches (config/fields.ts `unsafe`) this worker runs with, as flags. */
function unsafeSwitchesOn(settings: Settings): string[] {
  return settingNames.filter((name) => settingsSchema[name].unsafe === true && settings[name] !== settingsSchema[name].default).map((name) => `--${kebabName(name)}`);
}

/** Starts the proxy worker's HTTP server on the configured address, with its own warden. */
export async function startProxy(settings: Settings, options: ProxyOptions = {}): Promise<RunningProxy> {
  const upstream = checkWorkerSettings(settings);
  const target = options.listenOn ?? { kind: 'address' };
  const clock = options.clock ?? Date.now;
  const baseLog = options.log ?? silentLogger;
  // The fault injection sees every 429 event, before repeats are summarised away.
  const summarising = summariseRepeats(baseLog, { intervalMs: settings.logRepeatInterval, now: clock });
  const log = crashingAfter429s(summarising, settings.unsafeCrashAfterRateLimits, settings.window, clock);
  const provider = settings.provider;
  const providers = providerChooser(upstream, provider);
  const policy = limiterPolicyFrom(settings);
  const db = settings.db as string;
  const store = await openStore({ db, clock, durability: settings.durability, busyTimeoutMs: options.busyTimeoutMs, checkpointErrors: (line) => log.warn('checkpoint-failed', line) });
  const heldFile = heldFileFor(db, dirname(defaultDatabasePath(process.env)));
  const warden = await Warden.open({ store, policy, clock, heldFile, scopeBudgets: settings.scopeBudgets });
  let secret: string;
  try {
    secret = await warden.views.fingerprintSecret();
  } catch (error) {
    await warden.close();
    throw error;
  }
  const upstreams = UpstreamRoutes.fromSetting(settings.upstream as string, settings.upstreamTimeout);
  const refusals = new RefusalCounter();
  const refusalHistory = new RefusalHistory(clock);
  const inFlight = new InFlightRequests();
  const metrics = new ProxyMetrics(metricsSourcesFor(warden, store, settings, clock));
  metrics.traffic.watchBudgetChanges(warden.budgetEvents);
  const startedAt = clock();
  const identity = { url: '', upstream: upstreams.describe(), provider };
  let stopping = false;
  let heartbeat: Heartbeat | null = null;
  let unsettledScopes: () => ReadonlyMap<string, LimiterState> = () => new Map();

  const queue = new AdmissionQueue(warden, clock, { maxWaitMs: settings.maxWait, maxQueue: settings.maxQueue });
  metrics.traffic.watchQueue(() => queueStateOf(queue.waitingByScope(), clock(), Number.POSITIVE_INFINITY));
  const runtime: ProxyRuntime = {
    upstreams,
    providers,
    // At most so many new scopes a minute and in all; past them, one shared scope (scopeCap.ts).
    scopeOf: cappedScopes(scopeChooser({ secret, by: settings.scopeBy, families: settings.scopeFamilies, ownerOf: (fingerprint) => warden.organizations.ownerOf(fingerprint) }), clock, (scope) =>
      log.warn('scope-overflow', `more new scopes than ${maxNewScopesPerMinute} a minute or ${maxScopesPerProcess} in all (the latest: ${scope}); requests of new keys are counted together in scope ${overflowScope} until then`),
    ),
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
    recorderSetup: { warden, tokenMetric: policy.tokenMetric, limitShape: settings.limitShape, clock, log, onSettled: () => queue.nudge(), cachedShares: new CachedShareLearner(clock) },
    refusals,
    health: () =>
      healthReport({
        warden,
        policy,
        clock,
        startedAt,
        identity,
        beat: async () => {
          await heartbeat?.beat();
        },
        inFlight: () => inFlight.size,
        stopping: () => stopping,
        unsettled: () => unsettledScopes(),
      }),
    metrics,
    page: options.page?.({ store, live: () => ({ proxy: identity.url, queue: queue.queueLines((session) => sessionLabel(session, secret)), refusals: refusalHistory.counts(), refusalsSince: refusalHistory.since }) }),
    stopping: () => stopping,
  };

  function onRequest(request: IncomingMessage, response: ServerResponse): void {
    response.once('finish', () => {
      const reason = localReasonOf(response);
      if (reason !== undefined) metrics.localReply(response.statusCode, reason);
      if (reason !== undefined) refusalHistory.add(response.statusCode, reason);
    });
    // The provider of an answer given outside handleRequest, which chooses its own.
    const shape = () => providers({ path: pathOf(request.url), headers: request.headers });
    if (stopping) {
      request.resume();
      sendLocalReply(response, shape(), { reason: 'stopping', message: 'ratewarden is stopping; retry in a moment', close: true });
      return;
    }
    const work = handleRequest(runtime, request, response).catch((error: unknown) => {
      log.error('request-failed', `${request.method ?? 'GET'} request failed inside ratewarden: ${(error as Error).message}`);
      if (!response.headersSent) {
        sendLocalReply(response, shape(), { reason: 'internal-error', message: `ratewarden could not handle this request: ${(error as Error).message}` });
      } else {
        response.destroy();
      }
    });
    inFlight.track(work);
  }

  const server = createServer({ headersTimeout: headersTimeoutMs, requestTimeout: requestTimeoutMs, maxHeaderSize: maxHeaderBytes, noDelay: true }, onRequest);
  try {
    await listen(server, settings, target);
  } catch (error) {
    upstreams.close();
    await warden.close();
    throw error;
  }
  const bound = server.address() as AddressInfo;
  const port = bound.port;
  // A handed socket is bound where its owner bound it; the configured address is what the operator wrote.
  const url = urlFor(target.kind === 'address' ? settings.listen.host : bound.address, port);
  identity.url = url;
  heartbeat = new Heartbeat(store, { role: 'worker', pid: process.pid, startedAt, listen: url, upstream: upstreams.describe() }, () => queueStateOf(queue.waitingByScope(), clock()));
  let ticker: Ticker;
  try {
    await heartbeat.beat();
    await heartbeat.recordPolicy(policy);
    // The ticker logs state changes, each once (the store failing, recovering): never folded into a
    // per-request summary that shares its event name, where its line would be held back or lost.
    ticker = await startTicker({ warden, heartbeat, refusals, log: baseLog, clock, policy });
    unsettledScopes = ticker.unsettled;
  } catch (error) {
    server.close();
    upstreams.close();
    await warden.close();
    // The database opened but cannot be written (a read-only mount, a full disk): like any other unusable database.
    if (error instanceof StoreUnavailableError) throw new StoreError('write-failed', `database ${warden.location} cannot be written at start (${error.message}); make it and its folder writable, or point --db elsewhere`);
    throw error;
  }
  const unsafe = unsafeSwitchesOn(settings);
  if (unsafe.length > 0) {
    log.warn('unsafe-switches', `UNSAFE: running with ${unsafe.join(', ')}, the demo's hidden switches that turn protections off or inject faults; never use them in production`, { switches: unsafe.join(' ') });
  }
  log.info('start', `listening on ${url} → ${upstreams.describe()} (provider ${provider}, database ${warden.location})`, { url, upstream: upstreams.describe(), provider, db: warden.location, pid: process.pid });

  async function shutDown(graceMs: number): Promise<void> {
    stopping = true;
    // Nobody waiting for budget is forwarded by a stopping proxy: they are answered now, not cut off later.
    queue.close({ kind: 'rejected', reason: 'budget', retryAfterMs: 1_000, message: 'ratewarden is stopping; retry in a moment' });
    log.info('stopping', `stopping: no new connections; waiting up to ${graceMs} ms for ${inFlight.size} requests in flight`);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const cut = await inFlight.drain(server, graceMs);
    if (cut > 0) log.warn('stop-timeout', `cut off ${cut} requests still running; what they used so far, or their reservations, count as spent`);
    await closed;
    try {
      await ticker.stop();
      await heartbeat?.forget();
    } catch (error) {
      // A store lost for good (deleted, replaced, corrupt) was reported when the ticker found it; the stop cannot be recorded in it either.
      if (!(error instanceof StoreUnavailableError && error.lost)) baseLog.error('store-unavailable', `could not record the stop: ${(error as Error).message}`);
    }
    if (warden.upstream429s.count > 0) {
      const keptIn = warden.upstream429s.keptIn;
      const kept = keptIn === null ? `they could NOT be written beside ${heldFile} either, so the next start does not know them` : `they are kept in ${keptIn} and the next start records them before it forwards anything`;
      log.error('upstream-429-held-over', `${warden.upstream429s.count} upstream 429s could not be recorded before the stop; ${kept}`);
    }
    upstreams.close();
    await warden.close();
    summarising.flush();
    log.info('stopped', 'stopped; every request is settled and the database is closed');
  }

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    provider,
    warden,
    queueLength: () => queue.length,
    close(graceMs = settings.stopTimeout) {
      closing ??= shutDown(graceMs);
      return closing;
    },
    cutOff: () => inFlight.cutOff(),
    adopt(socket) {
      server.emit('connection', socket);
      socket.resume();
    },
  };
}
