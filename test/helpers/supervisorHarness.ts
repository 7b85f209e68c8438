import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Database } from 'better-sqlite3';
import { execa, type ResultPromise } from 'execa';
import { afterEach } from 'vitest';
import { StoreError } from '../../src/store/errors.js';
import { openDatabase } from '../../src/store/sqlite/open.js';
import type { SupervisorEventRecord } from '../../src/store/port.js';
import { SupervisorStore } from '../../src/store/sqlite/supervisorStore.js';
import { ScratchDirs } from './scratchDir.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const superviseMain = fileURLToPath(new URL('./superviseMain.ts', import.meta.url));
export const standInWorker = fileURLToPath(new URL('./standInWorker.mjs', import.meta.url));

/**
 * How long a wait for a process to get somewhere may take before the test fails: generous, because
 * a loaded 2-core machine can take many seconds to start a supervisor through tsx. It bounds
 * waiting only; no test asserts a speed with it.
 */
const patienceMs = 40_000;

/** Setting values as flags give them, e.g. { restartSec: '50ms' }. */
export type SettingFlags = Record<string, string | number | boolean>;

/** Polls until `test` gives a value other than undefined; throws after `timeoutMs` with `what`. */
export async function eventually<T>(what: string, test: () => T | undefined, timeoutMs = patienceMs, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = test();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One supervisor process with its output, as a test drives it. */
export class SupervisorRun {
  stdout = '';
  stderr = '';
  readonly child: ResultPromise;

  constructor(file: string, args: readonly string[], env: Record<string, string> = {}) {
    this.child = execa(file, [...args], { cwd: repoRoot, buffer: false, reject: false, stdin: 'ignore', env, forceKillAfterDelay: false });
    this.child.stdout?.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString();
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('the supervisor did not start');
    return this.child.pid;
  }

  async waitForOutput(pattern: RegExp, timeoutMs = patienceMs): Promise<RegExpMatchArray> {
    return eventually(
      `output matching ${pattern} (stdout so far: ${this.stdout}; stderr: ${this.stderr})`,
      () => (this.stdout + this.stderr).match(pattern) ?? undefined,
      timeoutMs,
    );
  }

  async exit(): Promise<{ exitCode: number | undefined; signal: string | undefined }> {
    const result = await this.child;
    return { exitCode: result.exitCode, signal: result.signal };
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

/**
 * A scratch folder with a database and a stand-in worker plan; remembers what it started so
 * that `cleanUp` (in afterEach) leaves no process behind.
 */
export class SupervisorFixture {
  readonly dbPath: string;
  private readonly startsFile: string;
  private readonly runs: SupervisorRun[] = [];
  private reader: Database | null = null;

  constructor(readonly dir: string) {
    this.dbPath = join(dir, 'ratewarden.db');
    this.startsFile = join(dir, 'starts');
  }

  /** The supervisor (src/supervisor, through tsx) with a stand-in worker following `plan`. */
  supervise(settings: SettingFlags, plan: readonly string[]): SupervisorRun {
    // Any free port unless the test names one: the supervisor binds it before the first worker.
    const flags = { db: this.dbPath, upstream: 'http://127.0.0.1:9', listen: '127.0.0.1:0', ...settings };
    return this.track(
      new SupervisorRun(process.execPath, [
        '--import',
        'tsx',
        superviseMain,
        JSON.stringify(flags),
        standInWorker,
        this.startsFile,
        ...plan,
      ]),
    );
  }

  /** The built CLI, as a user runs it. */
  ratewarden(args: readonly string[], env: Record<string, string> = {}): SupervisorRun {
    return this.track(
      new SupervisorRun(process.execPath, [join(repoRoot, 'bin', 'ratewarden'), ...args], {
        XDG_CONFIG_HOME: join(this.dir, 'config'),
        ...env,
      }),
    );
  }

  private track(run: SupervisorRun): SupervisorRun {
    this.runs.push(run);
    return run;
  }

  /** Pids of the stand-in workers started so far, oldest first. */
  workerPids(): number[] {
    return existsSync(this.startsFile) ? readFileSync(this.startsFile, 'utf8').trim().split('\n').filter(Boolean).map(Number) : [];
  }

  /** The supervisor's events, oldest first. */
  events(): SupervisorEventRecord[] {
    if (this.reader === null) {
      if (!existsSync(this.dbPath)) return [];
      try {
        this.reader = openDatabase(this.dbPath, { readonly: true });
      } catch (error) {
        // The supervisor may be creating and migrating the file at this very moment.
        if (error instanceof StoreError) return [];
        throw error;
      }
    }
    return new SupervisorStore(this.reader).recent(10_000).reverse();
  }

  /** Rows of `processes` (the heartbeats), by role. */
  processes(role: 'supervisor' | 'worker'): { pid: number; heartbeat_at: number; listen: string | null }[] {
    if (this.events().length === 0 || this.reader === null) return [];
    return this.reader.prepare('SELECT pid, heartbeat_at, listen FROM processes WHERE role = ?').all(role) as {
      pid: number;
      heartbeat_at: number;
      listen: string | null;
    }[];
  }

  eventsOf(kind: SupervisorEventRecord['kind']): SupervisorEventRecord[] {
    return this.events().filter((event) => event.kind === kind);
  }

  /** Waits until at least `count` events of `kind` have been recorded; returns them. */
  waitForEvents(kind: SupervisorEventRecord['kind'], count: number, timeoutMs = patienceMs): Promise<SupervisorEventRecord[]> {
    return eventually(
      `${count} ${kind} events (have: ${this.events()
        .map((e) => e.kind)
        .join(', ')})`,
      () => {
        const found = this.eventsOf(kind);
        return found.length >= count ? found : undefined;
      },
      timeoutMs,
    );
  }

  async cleanUp(): Promise<void> {
    for (const run of this.runs.splice(0)) {
      run.kill('SIGKILL');
      await run.child.catch(() => undefined);
    }
    const workers = [...this.workerPids(), ...this.eventsOf('worker-started').map((event) => event.workerPid)];
    for (const pid of workers) {
      if (pid !== null && isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    this.reader?.close();
    this.reader = null;
  }
}

/** A fixture per call, each stopped and its folder removed after every test of the file. */
export function useSupervisorFixtures(): () => SupervisorFixture {
  const scratch = new ScratchDirs();
  const fixtures: SupervisorFixture[] = [];
  afterEach(async () => {
    for (const fixture of fixtures.splice(0)) await fixture.cleanUp();
    scratch.removeAll();
  });
  return () => {
    const made = new SupervisorFixture(scratch.make('ratewarden-supervisor-'));
    fixtures.push(made);
    return made;
  };
}
