import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { settingsSchema } from '../config/schema.js';
import { StoreError } from '../store/errors.js';
import { readIncidentRecords, type IncidentRecords } from '../store/sqlite/incidentView.js';
import { crashSchedule, stormSchedule, type Storm } from './incidentSchedule.js';
import { startCrashInjector, type CrashInjector } from './crashInjector.js';
import {
  amnesiaWorkerArgs,
  loadProfile,
  naiveRestartDelayMs,
  otherTenantRequestTokens,
  ratewardenArgs,
  storm as stormDraw,
  stormShape,
  upstreamShape,
  type ReplayOptions,
  type SetupName,
} from './incidentScenario.js';
import type { LifeRecords, RunRecord } from './incidentMeasures.js';
import {
  emptyLoadCounts,
  startLoad as startSimulatedClients,
  type LoadCounts,
  type LoadGenerator,
  type LoadStarter,
} from './loadGenerator.js';
import { startNaiveRestarter, type WorkerLife } from './naiveRestarter.js';
import type { ProxyUnderTest } from './proxyUnderTest.js';
import { SeededRandom } from './seededRandom.js';
import { startSupervisedProxy } from './supervisedProxy.js';
import { startSimUpstream, type SimUpstream } from './upstream.js';

export interface RunProgress {
  setup: SetupName;
  phase: 'starting' | 'running' | 'stopping' | 'done';
  elapsedMs: number;
  durationMs: number;
  load: LoadCounts;
  upstream429s: number;
  restarts: number;
  crashes: number;
}

/** The first worker must be ready within this; the real start takes well under a second. */
const startDeadlineMs = 30_000;
const progressEveryMs = 200;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function within<T>(work: Promise<T>, ms: number, what: string, signal: AbortSignal): Promise<T> {
  const timeout = new AbortController();
  const abandon = (): void => timeout.abort();
  signal.addEventListener('abort', abandon, { once: true });
  try {
    return await Promise.race([
      work,
      sleep(ms, undefined, { signal: timeout.signal }).then(
        () => Promise.reject(new Error(`${what} took longer than ${ms / 1000} s`)),
        () => Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('stopped')),
      ),
    ]);
  } finally {
    signal.removeEventListener('abort', abandon);
    timeout.abort();
  }
}

/**
 * The second tenant: its steady share from the start, and on schedule its storms, when it draws
 * several times the whole limit. Returns what cancels the rest and stops it.
 */
function scheduleOtherTenant(upstream: SimUpstream, options: ReplayOptions, storms: readonly Storm[], startedAt: number): () => void {
  const steady = (): void => upstream.setOtherTenant(options.otherTenantShare * upstreamShape.tokenLimit, otherTenantRequestTokens);
  steady();
  const timers = storms.flatMap((storm) => [
    setTimeout(
      () => upstream.setOtherTenant(stormDraw.drawShare * upstreamShape.tokenLimit, stormDraw.requestTokens),
      Math.max(0, startedAt + storm.from - Date.now()),
    ),
    setTimeout(steady, Math.max(0, startedAt + storm.to - Date.now())),
  ]);
  return () => {
    timers.forEach(clearTimeout);
    upstream.setOtherTenant(0, otherTenantRequestTokens);
  };
}

/** The direct run's stand-in: no proxy, nothing to start, crash or stop. */
const noProxy: ProxyUnderTest = {
  currentWorkerPid: () => null,
  workersStarted: () => 0,
  firstReady: Promise.resolve(),
  endedBy: () => null,
  crashesAfter429s: () => [],
  stop: () => Promise.resolve(),
};

const noRecords: IncidentRecords = { admissions: [], cooldowns: [], budgetChanges: [], zeroTokenSamples: 0 };

/** A life killed before its database was even set up left nothing to read. */
function recordsOf(database: string): IncidentRecords {
  try {
    return readIncidentRecords(database);
  } catch (error) {
    if (error instanceof StoreError && (error.problem === 'missing' || error.problem === 'too-old')) return noRecords;
    throw error;
  }
}

function amnesiaLives(lives: readonly WorkerLife[], startedAt: number): LifeRecords[] {
  return lives.map((life) => ({ startedEmptyAt: Math.max(startedAt, life.startedAt), ...recordsOf(life.database) }));
}

function startProxyFor(
  setup: SetupName,
  upstreamUrl: string,
  port: number,
  workDir: string,
  options: ReplayOptions,
): { proxy: ProxyUnderTest; restarter: ReturnType<typeof startNaiveRestarter> | null; database: string | null } {
  switch (setup) {
    case 'direct':
      return { proxy: noProxy, restarter: null, database: null };
    case 'amnesia': {
      const restarter = startNaiveRestarter({
        workerArgs: amnesiaWorkerArgs(upstreamUrl, port, options.crashAfter429s),
        databaseFor: (life) => join(workDir, `amnesia-life-${life}.db`),
        restartDelayMs: naiveRestartDelayMs,
      });
      return { proxy: restarter, restarter, database: null };
    }
    case 'ratewarden': {
      const database = join(workDir, 'ratewarden.db');
      return {
        proxy: startSupervisedProxy(ratewardenArgs(upstreamUrl, port, database, options.crashAfter429s)),
        restarter: null,
        database,
      };
    }
  }
}

/**
 * Runs one setup of the incident end to end: a simulated upstream, the proxy (supervised the
 * setup's way; none for `direct`), the clients, the second tenant and the crash injector; then
 * stops everything and reads what the databases recorded. Everything it starts is stopped
 * again, also when it fails or is aborted.
 */
export async function runIncident(
  setup: SetupName,
  options: ReplayOptions,
  workDir: string,
  onProgress: (progress: RunProgress) => void,
  signal: AbortSignal,
  startLoad: LoadStarter = startSimulatedClients,
): Promise<RunRecord> {
  let upstream: SimUpstream | null = null;
  let proxy: ProxyUnderTest | null = null;
  let injector: CrashInjector | null = null;
  let load: LoadGenerator | null = null;
  let progressTimer: NodeJS.Timeout | null = null;
  let cancelStorms: () => void = () => undefined;
  try {
    upstream = await startSimUpstream({ ...upstreamShape, shape: options.limitShape });
    const port = await freePort();
    const started = startProxyFor(setup, upstream.url, port, workDir, options);
    const { restarter, database } = started;
    proxy = started.proxy;
    const running = proxy;
    const baseUrl = setup === 'direct' ? upstream.url : `http://127.0.0.1:${port}`;
    const sim = upstream;
    const progress = (phase: RunProgress['phase'], startedAt: number | null): RunProgress => ({
      setup,
      phase,
      elapsedMs: startedAt === null ? 0 : Math.min(options.durationMs, Date.now() - startedAt),
      durationMs: options.durationMs,
      load: load?.counts() ?? emptyLoadCounts(),
      upstream429s: sim.stats().rateLimited,
      restarts: Math.max(0, running.workersStarted() - 1),
      crashes: (injector?.crashes().filter((crash) => crash.pid !== null).length ?? 0) + running.crashesAfter429s().length,
    });
    onProgress(progress('starting', null));
    await within(proxy.firstReady, startDeadlineMs, `starting the ${setup} run's proxy`, signal);

    const startedAt = Date.now();
    const storms = stormSchedule(options.seed, stormShape(options.stormEveryMs), options.durationMs);
    cancelStorms = scheduleOtherTenant(upstream, options, storms, startedAt);
    // The direct run has no worker: the schedule strikes nothing there.
    injector = startCrashInjector(
      setup === 'direct' ? [] : crashSchedule(options.seed, options.crashEveryMs, options.durationMs),
      startedAt,
      running.currentWorkerPid,
      Date.now,
    );
    load = startLoad(baseUrl, loadProfile(options.clients), new SeededRandom(options.seed).fork('load'), Date.now);
    progressTimer = setInterval(() => onProgress(progress('running', startedAt)), progressEveryMs);
    await sleep(options.durationMs, undefined, { signal }).catch(() => undefined);
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('stopped');

    const endedAt = Date.now();
    clearInterval(progressTimer);
    onProgress(progress('stopping', startedAt));
    injector.stop();
    cancelStorms();
    await load.stop();
    const crashes = [...injector.crashes()];
    const crashesAfter429s = [...proxy.crashesAfter429s()];
    const stats = upstream.stats();
    const endedBy = proxy.endedBy();
    const workersStarted = proxy.workersStarted();
    await proxy.stop();
    proxy = null;
    const lives =
      restarter !== null
        ? amnesiaLives(restarter.lives(), startedAt)
        : database !== null
          ? [{ startedEmptyAt: startedAt, ...recordsOf(database) }]
          : [];
    onProgress({ ...progress('done', startedAt), elapsedMs: options.durationMs });
    return {
      setup,
      startedAt,
      endedAt,
      windowMs: upstreamShape.windowMs,
      tokenLimit: upstreamShape.tokenLimit,
      calibratedBudget: Math.floor(upstreamShape.tokenLimit * settingsSchema.safetyMargin.default),
      attempts: load.attempts(),
      load: load.counts(),
      upstream: {
        requests: stats.requests,
        rateLimited: stats.rateLimited,
        receivedWhileExhausted: stats.receivedWhileExhausted,
        receivedInsideRetryAfter: stats.receivedInsideRetryAfter,
        otherTenantTokens: stats.otherTenant.tokensServed,
        otherTenant429s: stats.otherTenant.rateLimited,
      },
      lives,
      crashes,
      crashesAfter429s,
      storms,
      workersStarted,
      endedBy,
    };
  } finally {
    if (progressTimer !== null) clearInterval(progressTimer);
    cancelStorms();
    injector?.stop();
    await load?.stop();
    await proxy?.stop();
    await upstream?.close();
  }
}
