import { spawn, type ChildProcess } from 'node:child_process';
import { isReadyMessage } from '../kernel/workerProtocol.js';
import { crashAfter429sExitCode } from '../proxy/crashAfter429s.js';
import { defaultWorkerCommand } from '../supervisor/workerCommand.js';
import type { CrashRecord } from './crashInjector.js';
import { LastLines, terminate, type ProxyUnderTest } from './proxyUnderTest.js';

export interface NaiveRestarterOptions {
  /** Arguments for `ratewarden run --no-supervise`, without --db. */
  workerArgs: readonly string[];
  /** A fresh database file for each life: nothing carries over from one life to the next. */
  databaseFor(life: number): string;
  /** The fixed delay before every restart, whatever happened. */
  restartDelayMs: number;
}

export interface WorkerLife {
  database: string;
  startedAt: number;
}

/**
 * The amnesia run's supervisor, as systemd's `Restart=always` + `RestartSec=3` behaved: after
 * any exit, wait the same delay and start again, forever. ratewarden's own supervisor refuses to
 * be this naive, so the replay plays this part itself. Each worker life gets a database of its
 * own, so every restart forgets the usage, the cooldown and the budget, as in-memory state did;
 * the files stay until the end only so that the replay can count what each life did.
 */
export function startNaiveRestarter(options: NaiveRestarterOptions): ProxyUnderTest & { lives(): readonly WorkerLife[] } {
  const lives: WorkerLife[] = [];
  const crashesAfter429s: CrashRecord[] = [];
  let current: ChildProcess | null = null;
  let stopping = false;
  let restartTimer: NodeJS.Timeout | null = null;
  let markReady: () => void = () => undefined;
  let failToStart: (error: Error) => void = () => undefined;
  const firstReady = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failToStart = reject;
  });
  // A failure nobody waits for any more (the replay already gave up on the start) is not a crash.
  firstReady.catch(() => undefined);
  let everReady = false;

  function startLife(): void {
    const database = options.databaseFor(lives.length + 1);
    lives.push({ database, startedAt: Date.now() });
    const command = defaultWorkerCommand([...options.workerArgs, '--db', database]);
    // Its own process group: a Ctrl-C reaches the replay, which stops the workers itself.
    const child = spawn(command.file, [...command.args], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], detached: true });
    const stderr = new LastLines();
    stderr.follow(child);
    current = child;
    child.on('message', (message: unknown) => {
      if (!isReadyMessage(message)) return;
      if (!everReady) markReady();
      everReady = true;
    });
    child.once('exit', (code) => {
      current = null;
      if (stopping) return;
      if (code === crashAfter429sExitCode) crashesAfter429s.push({ at: Date.now(), pid: child.pid ?? null });
      // A worker that never got going on its own (a bad flag, a bad database) would loop forever.
      if (!everReady && code !== null && code !== 0) {
        failToStart(new Error(`the amnesia run's worker could not start (exit code ${code}): ${stderr.text()}`));
        return;
      }
      restartTimer = setTimeout(startLife, options.restartDelayMs);
    });
  }

  startLife();
  return {
    currentWorkerPid: () => current?.pid ?? null,
    workersStarted: () => lives.length,
    firstReady,
    endedBy: () => null,
    crashesAfter429s: () => crashesAfter429s,
    lives: () => lives,
    async stop() {
      stopping = true;
      if (restartTimer !== null) clearTimeout(restartTimer);
      if (current !== null) await terminate(current);
    },
  };
}
