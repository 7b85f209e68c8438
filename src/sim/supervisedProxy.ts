import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { CrashRecord } from './crashInjector.js';
import { LastLines, ratewardenBin, terminate, type ProxyUnderTest } from './proxyUnderTest.js';

interface SupervisorLine {
  source?: unknown;
  event?: unknown;
  workerPid?: unknown;
  message?: unknown;
}

function parseLine(line: string): SupervisorLine | null {
  if (!line.startsWith('{')) return null;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as SupervisorLine) : null;
  } catch {
    return null;
  }
}

/**
 * `ratewarden run` exactly as a user starts it: the supervisor and its worker. The worker's pid
 * comes from the supervisor's own JSON log (`worker-started`), so the crash injector kills the
 * worker the supervisor is watching, and the supervisor alone decides when to restart it.
 */
export function startSupervisedProxy(runArgs: readonly string[]): ProxyUnderTest {
  const child = spawn(process.execPath, [ratewardenBin, 'run', ...runArgs, '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = new LastLines();
  stderr.follow(child);
  let workerPid: number | null = null;
  let started = 0;
  let endedBy: string | null = null;
  const crashesAfter429s: CrashRecord[] = [];
  let markReady: () => void = () => undefined;
  let failToStart: (error: Error) => void = () => undefined;
  const firstReady = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failToStart = reject;
  });
  // A failure nobody waits for any more (the replay already gave up on the start) is not a crash.
  firstReady.catch(() => undefined);

  if (child.stdout !== null) {
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (text) => {
      const line = parseLine(text);
      if (line === null) return;
      const pid = typeof line.workerPid === 'number' ? line.workerPid : null;
      if (line.source === 'worker' && line.event === 'crash-after-429s') crashesAfter429s.push({ at: Date.now(), pid });
      if (line.source !== 'supervisor') return;
      switch (line.event) {
        case 'worker-started':
          started += 1;
          workerPid = pid;
          break;
        case 'worker-ready':
          markReady();
          break;
        case 'worker-failed':
        case 'worker-exited':
          if (workerPid === pid) workerPid = null;
          break;
        case 'supervisor-gave-up':
          workerPid = null;
          endedBy = typeof line.message === 'string' ? line.message : 'the supervisor gave up';
          break;
      }
    });
  }
  child.once('exit', (code) => {
    workerPid = null;
    failToStart(new Error(`ratewarden run exited (code ${code ?? 'none'}) before its worker was ready: ${stderr.text()}`));
  });

  return {
    currentWorkerPid: () => workerPid,
    workersStarted: () => started,
    firstReady,
    endedBy: () => endedBy,
    crashesAfter429s: () => crashesAfter429s,
    stop: () => terminate(child),
  };
}
