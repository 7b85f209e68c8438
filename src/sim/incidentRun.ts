import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { settingsSchema } from '../config/schema.js';
import { StoreError } from '../store/errors.js';
import { readIncidentRecords, type IncidentRecords } from '../store/incidentView.js';
import { crashSchedule, stormSchedule, type Storm } from './incidentSchedule.js';
import { startCrashInjector, type CrashInjector } from './crashInjector.js';
import { amnesiaWorkerArgs, loadProfile, naiveRestartDelayMs, ratewardenArgs, stormShape, upstreamShape, type ReplayOptions, type SetupName } from './incidentScenario.js';
import type { LifeRecords, RunRecord } from './incidentMeasures.js';
import { emptyLoadCounts, startLoad, type LoadCounts, type LoadGenerator } from './loadGenerator.js';
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

/** Turns the upstream's storms on and off on schedule; returns what cancels the rest. */
function scheduleStorms(upstream: SimUpstream, storms: readonly Storm[], startedAt: number): () => void {
  const timers = storms.flatMap((storm) => [
    setTimeout(() => upstream.setMode('always-429'), Math.max(0, startedAt + storm.from - Date.now())),
    setTimeout(() => upstream.setMode('normal'), Math.max(0, startedAt + storm.to - Date.now())),
  ]);
  return () => timers.forEach(clearTimeout);
}

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

/**
 * Runs one setup of the incident end to end: a simulated upstream, the proxy (supervised the
 * setup's way), the clients and the crash injector; then stops everything and reads what the
 * databases recorded. Everything it starts is stopped again, also when it fails or is aborted.
 */
export async function runIncident(setup: SetupName, options: ReplayOptions, workDir: string, onProgress: (progress: RunProgress) => void, signal: AbortSignal): Promise<RunRecord> {
  let upstream: SimUpstream | null = null;
  let proxy: ProxyUnderTest | null = null;
  let injector: CrashInjector | null = null;
  let load: LoadGenerator | null = null;
  let progressTimer: NodeJS.Timeout | null = null;
  let cancelStorms: () => void = () => undefined;
  try {
    upstream = await startSimUpstream(upstreamShape);
    const port = await freePort();
    const ratewardenDb = join(workDir, 'ratewarden.db');
    const restarter =
      setup === 'amnesia'
        ? startNaiveRestarter({
            workerArgs: amnesiaWorkerArgs(upstream.url, port),
            databaseFor: (life) => join(workDir, `amnesia-life-${life}.db`),
            restartDelayMs: naiveRestartDelayMs,
          })
        : null;
    proxy = restarter ?? startSupervisedProxy(ratewardenArgs(upstream.url, port, ratewardenDb));
    const running = proxy;
    const sim = upstream;
    const progress = (phase: RunProgress['phase'], startedAt: number | null): RunProgress => ({
      setup,
      phase,
      elapsedMs: startedAt === null ? 0 : Math.min(options.durationMs, Date.now() - startedAt),
      durationMs: options.durationMs,
      load: load?.counts() ?? emptyLoadCounts(),
      upstream429s: sim.stats().rateLimited,
      restarts: Math.max(0, running.workersStarted() - 1),
      crashes: injector?.crashes().filter((crash) => crash.pid !== null).length ?? 0,
    });
    onProgress(progress('starting', null));
    await within(proxy.firstReady, startDeadlineMs, `starting the ${setup} run's proxy`, signal);

    const startedAt = Date.now();
    const storms = stormSchedule(options.seed, stormShape(options.stormEveryMs), options.durationMs);
    cancelStorms = scheduleStorms(upstream, storms, startedAt);
    injector = startCrashInjector(crashSchedule(options.seed, options.crashEveryMs, options.durationMs), startedAt, running.currentWorkerPid, Date.now);
    load = startLoad(`http://127.0.0.1:${port}`, loadProfile(options.clients), new SeededRandom(options.seed).fork('load'), Date.now);
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
    const stats = upstream.stats();
    const endedBy = proxy.endedBy();
    const workersStarted = proxy.workersStarted();
    await proxy.stop();
    proxy = null;
    const lives = restarter !== null ? amnesiaLives(restarter.lives(), startedAt) : [{ startedEmptyAt: startedAt, ...recordsOf(ratewardenDb) }];
    onProgress({ ...progress('done', startedAt), elapsedMs: options.durationMs });
    return {
      startedAt,
      endedAt,
      windowMs: upstreamShape.windowMs,
      tokenLimit: upstreamShape.tokenLimit,
      calibratedBudget: Math.floor(upstreamShape.tokenLimit * settingsSchema.safetyMargin.default),
      attempts: load.attempts(),
      load: load.counts(),
      upstream: { requests: stats.requests, rateLimited: stats.rateLimited, receivedWhileExhausted: stats.receivedWhileExhausted },
      lives,
      crashes,
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
