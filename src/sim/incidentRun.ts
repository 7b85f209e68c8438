import { freeLoopbackPort } from '../kernel/loopbackPort.js';
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
import { startSimUpstream, type SimStats, type SimUpstream } from './upstream.js';

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

/** What a run has started so far, for the progress reports and for stopping it all at the end. */
interface RunParts {
  upstream: SimUpstream | null;
  proxy: ProxyUnderTest | null;
  injector: CrashInjector | null;
  load: LoadGenerator | null;
  progressTimer: NodeJS.Timeout | null;
  cancelStorms: () => void;
}

/** Stops whatever the run started, also when it failed or was aborted half way. */
async function stopParts(parts: RunParts): Promise<void> {
  if (parts.progressTimer !== null) clearInterval(parts.progressTimer);
  parts.cancelStorms();
  parts.injector?.stop();
  await parts.load?.stop();
  await parts.proxy?.stop();
  await parts.upstream?.close();
}

type ProgressOf = (phase: RunProgress['phase'], startedAt: number | null) => RunProgress;

function progressReporter(
  setup: SetupName,
  options: ReplayOptions,
  parts: RunParts,
  sim: SimUpstream,
  running: ProxyUnderTest,
): ProgressOf {
  return (phase, startedAt) => ({
    setup,
    phase,
    elapsedMs: startedAt === null ? 0 : Math.min(options.durationMs, Date.now() - startedAt),
    durationMs: options.durationMs,
    load: parts.load?.counts() ?? emptyLoadCounts(),
    upstream429s: sim.stats().rateLimited,
    restarts: Math.max(0, running.workersStarted() - 1),
    crashes: (parts.injector?.crashes().filter((crash) => crash.pid !== null).length ?? 0) + running.crashesAfter429s().length,
  });
}

/** What the databases recorded: each amnesia life's own file, ratewarden's one file, nothing for the direct run. */
function livesOf(restarter: ReturnType<typeof startNaiveRestarter> | null, database: string | null, startedAt: number): LifeRecords[] {
  return restarter !== null
    ? amnesiaLives(restarter.lives(), startedAt)
    : database !== null
      ? [{ startedEmptyAt: startedAt, ...recordsOf(database) }]
      : [];
}

type RunOutcome = Pick<
  RunRecord,
  'startedAt' | 'endedAt' | 'lives' | 'crashes' | 'crashesAfter429s' | 'storms' | 'workersStarted' | 'endedBy'
>;

function runRecordOf(setup: SetupName, load: LoadGenerator, stats: SimStats, outcome: RunOutcome): RunRecord {
  return {
    setup,
    startedAt: outcome.startedAt,
    endedAt: outcome.endedAt,
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
    lives: outcome.lives,
    crashes: outcome.crashes,
    crashesAfter429s: outcome.crashesAfter429s,
    storms: outcome.storms,
    workersStarted: outcome.workersStarted,
    endedBy: outcome.endedBy,
  };
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
  const parts: RunParts = { upstream: null, proxy: null, injector: null, load: null, progressTimer: null, cancelStorms: () => undefined };
  try {
    const upstream = await startSimUpstream({ ...upstreamShape, shape: options.limitShape });
    parts.upstream = upstream;
    const port = await freeLoopbackPort();
    const { proxy, restarter, database } = startProxyFor(setup, upstream.url, port, workDir, options);
    parts.proxy = proxy;
    const baseUrl = setup === 'direct' ? upstream.url : `http://127.0.0.1:${port}`;
    const progress = progressReporter(setup, options, parts, upstream, proxy);
    onProgress(progress('starting', null));
    await within(proxy.firstReady, startDeadlineMs, `starting the ${setup} run's proxy`, signal);

    const startedAt = Date.now();
    const storms = stormSchedule(options.seed, stormShape(options.stormEveryMs), options.durationMs);
    parts.cancelStorms = scheduleOtherTenant(upstream, options, storms, startedAt);
    // The direct run has no worker: the schedule strikes nothing there.
    const injector = startCrashInjector(
      setup === 'direct' ? [] : crashSchedule(options.seed, options.crashEveryMs, options.durationMs),
      startedAt,
      proxy.currentWorkerPid,
      Date.now,
    );
    parts.injector = injector;
    const load = startLoad(baseUrl, loadProfile(options.clients), new SeededRandom(options.seed).fork('load'), Date.now);
    parts.load = load;
    parts.progressTimer = setInterval(() => onProgress(progress('running', startedAt)), progressEveryMs);
    await sleep(options.durationMs, undefined, { signal }).catch(() => undefined);
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('stopped');

    const endedAt = Date.now();
    clearInterval(parts.progressTimer);
    onProgress(progress('stopping', startedAt));
    injector.stop();
    parts.cancelStorms();
    await load.stop();
    const crashes = [...injector.crashes()];
    const crashesAfter429s = [...proxy.crashesAfter429s()];
    const stats = upstream.stats();
    const endedBy = proxy.endedBy();
    const workersStarted = proxy.workersStarted();
    await proxy.stop();
    parts.proxy = null;
    const lives = livesOf(restarter, database, startedAt);
    onProgress({ ...progress('done', startedAt), elapsedMs: options.durationMs });
    return runRecordOf(setup, load, stats, { startedAt, endedAt, lives, crashes, crashesAfter429s, storms, workersStarted, endedBy });
  } finally {
    await stopParts(parts);
  }
}
