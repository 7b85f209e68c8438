import { kebabName, settingNames, settingsSchema, type Settings } from '../config/schema.js';
import { queueStateOf } from '../core/queueState.js';
import type { LimiterPolicy } from '../core/types.js';
import type { Clock } from '../kernel/clock.js';
import type { Logger, SummarisingLogger } from '../kernel/log.js';
import { StoreError } from '../store/errors.js';
import type { Store } from '../store/port.js';
import { StoreUnavailableError } from '../store/unavailable.js';
import { Heartbeat } from '../warden/heartbeat.js';
import type { Warden } from '../warden/warden.js';
import type { AdmissionQueue } from '../proxy/admissionQueue.js';
import type { ProxyMetrics } from '../proxy/metrics.js';
import type { RefusalCounter } from '../proxy/refusalCounter.js';
import type { RefusalHistory } from '../proxy/refusalHistory.js';
import type { ProxyServer } from '../proxy/server.js';
import { startTicker, type Ticker } from '../proxy/ticker.js';
import type { UpstreamRoutes } from '../proxy/upstreamRoutes.js';

/** The worker's logs: the operator's logger, the same with repeats summarised, and the fault injection in front of that. */
export interface WorkerLogs {
  base: Logger;
  summarising: SummarisingLogger;
  log: Logger;
}

/** The worker's parts, built once by the composition root (composeWorker.ts). */
export interface WorkerParts {
  settings: Settings;
  clock: Clock;
  logs: WorkerLogs;
  policy: LimiterPolicy;
  store: Store;
  warden: Warden;
  /** Where upstream 429s that could not be recorded are kept over a stop. */
  heldFile: string;
  /** The store's fingerprint secret: keys and sessions are named by an HMAC under it, never by themselves. */
  secret: string;
  upstreams: UpstreamRoutes;
  queue: AdmissionQueue;
  metrics: ProxyMetrics;
  refusals: RefusalCounter;
  refusalHistory: RefusalHistory;
  server: ProxyServer;
  startedAt: number;
  /** What the health check names; the URL is known once the server listens. */
  identity: { url: string; upstream: string; provider: string };
}

/** What starts once the server listens: the health check beats through the heartbeat and names the ticker's unsettled scopes. */
export interface WorkerLife {
  heartbeat: Heartbeat | null;
  ticker: Ticker | null;
}

/** The `--unsafe-*` switches (config/fields.ts `unsafe`) this worker runs with, as flags. */
function unsafeSwitchesOn(settings: Settings): string[] {
  return settingNames
    .filter((name) => settingsSchema[name].unsafe === true && settings[name] !== settingsSchema[name].default)
    .map((name) => `--${kebabName(name)}`);
}

/**
 * The first heartbeat, the policy record and the ticker, once the server listens. A store that
 * opened but cannot be written fails the start like any other unusable database.
 */
export async function startBeating(parts: WorkerParts, life: WorkerLife, url: string): Promise<Ticker> {
  const { store, warden, upstreams, queue, clock, policy } = parts;
  const heartbeat = new Heartbeat(
    store,
    { role: 'worker', pid: process.pid, startedAt: parts.startedAt, listen: url, upstream: upstreams.describe() },
    () => queueStateOf(queue.waitingByScope(), clock()),
  );
  life.heartbeat = heartbeat;
  try {
    await heartbeat.beat();
    await heartbeat.recordPolicy(policy);
    // The ticker logs state changes, each once (the store failing, recovering): never folded into a
    // per-request summary that shares its event name, where its line would be held back or lost.
    life.ticker = await startTicker({ warden, heartbeat, refusals: parts.refusals, log: parts.logs.base, clock, policy });
    return life.ticker;
  } catch (error) {
    parts.server.abandon();
    upstreams.close();
    await warden.close();
    // The database opened but cannot be written (a read-only mount, a full disk): like any other unusable database.
    if (error instanceof StoreUnavailableError)
      throw new StoreError(
        'write-failed',
        `database ${warden.location} cannot be written at start (${error.message}); make it and its folder writable, or point --db elsewhere`,
      );
    throw error;
  }
}

/** The start's lines: the unsafe switches, loudly, then where the worker listens and what it forwards to. */
export function announceStart(parts: WorkerParts, url: string): void {
  const { log } = parts.logs;
  const { warden, settings } = parts;
  const unsafe = unsafeSwitchesOn(settings);
  if (unsafe.length > 0) {
    log.warn(
      'unsafe-switches',
      `UNSAFE: running with ${unsafe.join(', ')}, the demo's hidden switches that turn protections off or inject faults; never use them in production`,
      { switches: unsafe.join(' ') },
    );
  }
  const upstream = parts.upstreams.describe();
  log.info('start', `listening on ${url} → ${upstream} (provider ${settings.provider}, database ${warden.location})`, {
    url,
    upstream,
    provider: settings.provider,
    db: warden.location,
    pid: process.pid,
  });
}

/** The stop's record: the last tick and the heartbeat's row removed, unless the store is lost for good. */
async function recordStop(life: WorkerLife, ticker: Ticker, log: Logger): Promise<void> {
  try {
    await ticker.stop();
    await life.heartbeat?.forget();
  } catch (error) {
    // A store lost for good (deleted, replaced, corrupt) was reported when the ticker found it; the stop cannot be recorded in it either.
    if (!(error instanceof StoreUnavailableError && error.lost))
      log.error('store-unavailable', `could not record the stop: ${(error as Error).message}`);
  }
}

/**
 * Stops the worker: the server answers new requests `stopping` and the queue its waiters, the
 * requests in flight finish for up to `graceMs` (then are cut off), the stop is recorded, and
 * the database is closed once everything is settled.
 */
export async function stopWorker(parts: WorkerParts, life: WorkerLife, ticker: Ticker, graceMs: number): Promise<void> {
  const { server, warden, heldFile } = parts;
  const { log } = parts.logs;
  server.beginStop();
  // Nobody waiting for budget is forwarded by a stopping proxy: they are answered now, not cut off later.
  parts.queue.close({ kind: 'rejected', reason: 'budget', retryAfterMs: 1_000, message: 'ratewarden is stopping; retry in a moment' });
  log.info('stopping', `stopping: no new connections; waiting up to ${graceMs} ms for ${server.inFlightCount} requests in flight`);
  const cut = await server.drain(graceMs);
  if (cut > 0)
    log.warn('stop-timeout', `cut off ${cut} requests still running; what they used so far, or their reservations, count as spent`);
  await recordStop(life, ticker, parts.logs.base);
  if (warden.upstream429s.count > 0) {
    const keptIn = warden.upstream429s.keptIn;
    const kept =
      keptIn === null
        ? `they could NOT be written beside ${heldFile} either, so the next start does not know them`
        : `they are kept in ${keptIn} and the next start records them before it forwards anything`;
    log.error('upstream-429-held-over', `${warden.upstream429s.count} upstream 429s could not be recorded before the stop; ${kept}`);
  }
  parts.upstreams.close();
  await warden.close();
  parts.logs.summarising.flush();
  log.info('stopped', 'stopped; every request is settled and the database is closed');
}
