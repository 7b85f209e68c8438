import { exitCodes } from '../kernel/exitCodes.js';
import type { FailureCause } from '../core/restartPolicy.js';
import { describeExit } from './describe.js';
import { watchLiveness } from './liveness.js';
import type { StopRequests } from './stopRequests.js';
import { delay, whenAborted } from './waiting.js';
import type { WorkerExit, WorkerProcess } from './workerProcess.js';

export interface WorkerLifeSettings {
  startTimeoutMs: number;
  livenessIntervalMs: number;
  livenessMisses: number;
  stableAfterMs: number;
  stopTimeoutMs: number;
  /** Where to probe when the ready message names no URL. */
  fallbackUrl: string;
}

export interface WorkerLifeEvents {
  ready(url: string): void;
  stable(): void;
}

export type WorkerOutcome =
  | { kind: 'stopped'; detail: string }
  | { kind: 'clean-exit' }
  | { kind: 'final-exit'; exitCode: number }
  | { kind: 'failure'; cause: FailureCause };

/**
 * The worker gets --stop-timeout to let in-flight requests finish; this much more lets it settle
 * them and close the database before SIGKILL.
 */
export const stopGraceMs = 1_000;

/** Follows one worker from its start to its end: readiness, liveness, stability, and a stop we ask for. */
export async function superviseWorkerLife(
  worker: WorkerProcess,
  settings: WorkerLifeSettings,
  stop: StopRequests,
  events: WorkerLifeEvents,
): Promise<WorkerOutcome> {
  const lifeOver = new AbortController();
  try {
    const start = await Promise.race([
      worker.ready.then((message) => ({ kind: 'ready', url: message.url ?? settings.fallbackUrl }) as const),
      worker.exited.then((exit) => ({ kind: 'exited', exit }) as const),
      delay(settings.startTimeoutMs, lifeOver.signal).then(() => ({ kind: 'timeout' }) as const),
      whenAborted(stop.graceful, lifeOver.signal).then(() => ({ kind: 'stop' }) as const),
    ]);
    switch (start.kind) {
      case 'exited':
        return outcomeOfExit(start.exit);
      case 'stop':
        return await stopWorker(worker, settings, stop);
      case 'timeout':
        worker.kill('SIGKILL');
        await worker.exited;
        return { kind: 'failure', cause: { kind: 'readiness-timeout', timeoutMs: settings.startTimeoutMs } };
      case 'ready':
        break;
    }

    events.ready(start.url);
    void delay(settings.stableAfterMs, lifeOver.signal).then((elapsed) => {
      if (elapsed) events.stable();
    });
    const running = await Promise.race([
      worker.exited.then((exit) => ({ kind: 'exited', exit }) as const),
      watchLiveness({
        url: start.url,
        intervalMs: settings.livenessIntervalMs,
        misses: settings.livenessMisses,
        signal: lifeOver.signal,
      }).then((misses) => ({ kind: 'unresponsive', misses: misses ?? 0 }) as const),
      whenAborted(stop.graceful, lifeOver.signal).then(() => ({ kind: 'stop' }) as const),
    ]);
    switch (running.kind) {
      case 'exited':
        return outcomeOfExit(running.exit);
      case 'stop':
        return await stopWorker(worker, settings, stop);
      case 'unresponsive':
        worker.kill('SIGKILL');
        await worker.exited;
        return { kind: 'failure', cause: { kind: 'liveness', misses: running.misses } };
    }
  } finally {
    lifeOver.abort();
  }
}

/**
 * Status 0 is a clean exit; the usage code (a configuration mistake) and the database code (a
 * store that cannot be used) are final: a restart cannot fix either, and neither is a crash. Anything
 * else, including a signal the supervisor did not send, is a failure.
 */
function outcomeOfExit(exit: WorkerExit): WorkerOutcome {
  switch (exit.kind) {
    case 'exit':
      if (exit.exitCode === 0) return { kind: 'clean-exit' };
      if (exit.exitCode === exitCodes.usage || exit.exitCode === exitCodes.database) return { kind: 'final-exit', exitCode: exit.exitCode };
      return { kind: 'failure', cause: { kind: 'exit-code', exitCode: exit.exitCode } };
    case 'signal':
      return { kind: 'failure', cause: { kind: 'signal', signal: exit.signal } };
    case 'spawn-error':
      return { kind: 'failure', cause: { kind: 'spawn-error', message: exit.message } };
  }
}

/** SIGTERM, then SIGKILL after the stop timeout, or at once on a second stop signal. */
async function stopWorker(worker: WorkerProcess, settings: WorkerLifeSettings, stop: StopRequests): Promise<WorkerOutcome> {
  const waiting = new AbortController();
  worker.kill('SIGTERM');
  const how = await Promise.race([
    worker.exited.then(() => 'exited' as const),
    delay(settings.stopTimeoutMs + stopGraceMs, waiting.signal).then(() => 'timeout' as const),
    whenAborted(stop.immediate, waiting.signal).then(() => 'at-once' as const),
  ]);
  waiting.abort();
  if (how !== 'exited') worker.kill('SIGKILL');
  const exit = await worker.exited;
  const escalation = how === 'timeout' ? ', SIGKILL after the stop timeout' : how === 'at-once' ? ', SIGKILL on a second stop signal' : '';
  return {
    kind: 'stopped',
    detail: `stopped on ${stop.reason ?? 'request'}: worker ${worker.pid ?? '?'} ended with ${describeExit(exit)}${escalation}`,
  };
}
