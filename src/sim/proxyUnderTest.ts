import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { CrashRecord } from './crashInjector.js';

/** A ratewarden proxy the replay runs as real processes, supervised one way or another. */
export interface ProxyUnderTest {
  /** The worker process alive now, if any: what the crash injector kills. */
  currentWorkerPid(): number | null;
  /** Worker processes started so far. */
  workersStarted(): number;
  /** Resolves once the first worker is ready; rejects when the proxy cannot start at all. */
  readonly firstReady: Promise<void>;
  /** Why the proxy stopped serving for good (the supervisor gave up), or null. */
  endedBy(): string | null;
  /** Workers that died of the 429 → crash edge (`--unsafe-crash-after-rate-limits`). */
  crashesAfter429s(): readonly CrashRecord[];
  /** Stops everything it started; resolves once every process has exited. */
  stop(): Promise<void>;
}

// Both src/sim (tests, bench) and dist/sim (the built CLI) sit two levels below the package root.
export const ratewardenBin = fileURLToPath(new URL('../../bin/ratewarden', import.meta.url));

/** How long a process may take to stop after SIGTERM before it gets SIGKILL. */
export const stopGraceMs = 5_000;

/** The last lines a process wrote to stderr, to explain a failure to start. */
export class LastLines {
  private readonly lines: string[] = [];

  constructor(private readonly keep = 5) {}

  follow(child: ChildProcess): void {
    if (child.stderr === null) return;
    createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => {
      this.lines.push(line);
      if (this.lines.length > this.keep) this.lines.shift();
    });
  }

  text(): string {
    return this.lines.join(' | ') || 'no output';
  }
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM, then SIGKILL if it is still there after the grace period. */
export async function terminate(child: ChildProcess): Promise<void> {
  const done = exited(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), stopGraceMs);
  await done;
  clearTimeout(timer);
}
