import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { cooldownPhase } from '../../../src/core/cooldown.js';
import { LimiterStore } from '../../../src/store/sqlite/limiterStore.js';
import { openDatabase } from '../../../src/store/sqlite/open.js';
import { kill9Policy, kill9WindowStart, totalWindowUsage, type Kill9Line } from '../../helpers/kill9Protocol.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const worker = fileURLToPath(new URL('../../helpers/kill9Worker.ts', import.meta.url));
const kills = 22;

const scratch = new ScratchDirs();
const running: ResultPromise[] = [];

afterEach(async () => {
  for (const child of running.splice(0)) {
    child.kill('SIGKILL');
    await child.catch(() => undefined);
  }
  scratch.removeAll();
});

/** A child run: its complete report lines as they arrive; a torn last line is never counted. */
class ChildRun {
  readonly lines: Kill9Line[] = [];
  stderr = '';
  private partial = '';
  private waiters: { test: (line: Kill9Line) => boolean; resolve: () => void }[] = [];
  readonly process: ResultPromise;

  constructor(dbPath: string) {
    this.process = execa(process.execPath, ['--import', 'tsx', worker, dbPath], {
      cwd: repoRoot,
      buffer: false,
      reject: false,
      stdin: 'pipe',
    });
    running.push(this.process);
    this.process.stdout?.on('data', (chunk: Buffer) => this.take(chunk.toString()));
    this.process.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
  }

  private take(text: string): void {
    const pieces = (this.partial + text).split('\n');
    this.partial = pieces.pop() ?? '';
    for (const piece of pieces) {
      const line = JSON.parse(piece) as Kill9Line;
      this.lines.push(line);
      this.waiters = this.waiters.filter((waiter) => {
        if (!waiter.test(line)) return true;
        waiter.resolve();
        return false;
      });
    }
  }

  /** The child loads its code first and waits; this lets it open the database and work. */
  start(): void {
    this.process.stdin?.end();
  }

  /** Resolves at the first line (from now on) that passes `test`, or after `timeoutMs`. */
  next(test: (line: Kill9Line) => boolean, timeoutMs: number): Promise<void> {
    return Promise.race([new Promise<void>((resolve) => this.waiters.push({ test, resolve })), sleep(timeoutMs)]);
  }

  /** Resolves with the time the signal was sent. */
  async kill(): Promise<number> {
    const killedAt = Date.now();
    this.process.kill('SIGKILL');
    const result = await this.process;
    running.splice(running.indexOf(this.process), 1);
    expect(result.signal, `the child died on its own: ${this.stderr}`).toBe('SIGKILL');
    return killedAt;
  }
}

/** Everything the children reported as committed, across all runs. */
class CommittedLedger {
  readonly admitted = new Map<number, { estimate: number; spent: number | null }>();
  readonly settled = new Map<number, { inputTokens: number; outputTokens: number }>();
  readonly met429 = new Set<number>();
  last: Kill9Line | null = null;

  add(lines: readonly Kill9Line[]): void {
    for (const line of lines) {
      this.last = line;
      if (line.op === 'admit') this.admitted.set(line.id, { estimate: line.estimate, spent: null });
      if (line.op === 'settle') {
        this.settled.set(line.id, { inputTokens: line.inputTokens, outputTokens: line.outputTokens });
        const admission = this.admitted.get(line.id);
        if (admission !== undefined) admission.spent = line.inputTokens + line.outputTokens;
      }
      if (line.op === '429') {
        this.met429.add(line.id);
        const admission = this.admitted.get(line.id);
        if (admission !== undefined) admission.spent = 0;
      }
    }
  }

  /** The least window usage the reported mutations alone add up to. */
  lowerBound(): { tokens: number; requests: number } {
    let tokens = 0;
    for (const admission of this.admitted.values()) tokens += admission.spent ?? admission.estimate;
    return { tokens, requests: this.admitted.size };
  }
}

type Database = ReturnType<typeof openDatabase>;

/** Every mutation in `ledger` is in the database, as reported. */
function expectPresent(db: Database, ledger: CommittedLedger): void {
  const requestRow = db.prepare('SELECT outcome, input_tokens AS inputTokens, output_tokens AS outputTokens FROM requests WHERE id = ?');
  for (const id of ledger.admitted.keys()) expect(requestRow.get(id), `admitted request ${id}`).toBeDefined();
  for (const [id, spent] of ledger.settled) expect(requestRow.get(id), `settled request ${id}`).toEqual({ outcome: 'ok', ...spent });
  const eventFor = db.prepare('SELECT COUNT(*) AS n FROM rate_limit_events WHERE request_id = ?');
  for (const id of ledger.met429) {
    expect(requestRow.get(id), `429 on request ${id}`).toMatchObject({ outcome: 'upstream-429' });
    expect(eventFor.get(id), `rate-limit event of request ${id}`).toEqual({ n: 1 });
  }
}

/**
 * After a kill: the file is sound, this run's reported mutations are all there, the window holds
 * at least what it held at the last report, and a cooldown in force then is in force now.
 * Returns whether a cooldown was in force, so the test can show it checked some.
 */
function verifyAfterKill(db: Database, thisRun: CommittedLedger, all: CommittedLedger, killedAt: number): boolean {
  expect(db.pragma('quick_check', { simple: true })).toBe('ok');
  expectPresent(db, thisRun);

  const now = Date.now();
  const usage = totalWindowUsage(new LimiterStore(db).bucketTotalsFrom('default', kill9WindowStart(now)));
  const bound = all.lowerBound();
  expect(usage.tokens).toBeGreaterThanOrEqual(bound.tokens);
  expect(usage.requests).toBeGreaterThanOrEqual(bound.requests);
  const before = all.last;
  if (before !== null) {
    expect(usage.tokens, 'window tokens after the kill').toBeGreaterThanOrEqual(before.tokens);
    expect(usage.requests, 'window requests after the kill').toBeGreaterThanOrEqual(before.requests);
  }

  // Whether a cooldown was in force is judged at the kill, not at this check: how long the exit
  // and the reopening take depends on the machine's load, and must not decide what is checked.
  const reportedUntil = before?.cooldownUntil ?? null;
  if (reportedUntil === null || reportedUntil <= killedAt) return false;
  const state = new LimiterStore(db).readState('default');
  if (state === null) throw new Error('the default scope has no state');
  expect(state.cooldownUntil).toBeGreaterThanOrEqual(reportedUntil);
  expect(cooldownPhase(state, killedAt, kill9Policy).phase).toBe('cooling');
  return true;
}

describe('kill -9 durability', () => {
  // About 15 s on an idle 2-core machine, mostly the children's start-up; the timeout leaves room for a busy one.
  it(`keeps every reported commit, the window and the cooldown through ${kills} SIGKILLs`, async () => {
    const dbPath = join(scratch.make(), 'kill9.db');
    const ledger = new CommittedLedger();
    let cooldownChecks = 0;
    let mutationsBeforeKills = 0;

    let upNext = new ChildRun(dbPath);
    for (let round = 0; round < kills; round++) {
      const child = upNext;
      upNext = new ChildRun(dbPath);
      child.start();
      await child.next((line) => line.op === 'ready', 10_000);
      expect(child.lines.length, `child ${round} did not start: ${child.stderr}`).toBeGreaterThan(0);
      if (round % 2 === 1) {
        // Shortly after an upstream 429, while its cooldown is in force.
        await child.next((line) => line.op === '429' && (line.cooldownUntil ?? 0) > Date.now() + 300, 20_000);
        await sleep(Math.floor(Math.random() * 60));
      } else {
        // In the middle of the traffic, once a cooldown left by the previous run is over.
        await child.next((line) => line.op !== 'ready', 20_000);
        await sleep(Math.floor(Math.random() * 300));
      }
      const killedAt = await child.kill();

      mutationsBeforeKills += child.lines.length - 1;
      const thisRun = new CommittedLedger();
      thisRun.add(child.lines);
      ledger.add(child.lines);
      const db = openDatabase(dbPath);
      try {
        if (verifyAfterKill(db, thisRun, ledger, killedAt)) cooldownChecks += 1;
      } finally {
        db.close();
      }
    }

    const db = openDatabase(dbPath);
    try {
      expectPresent(db, ledger);
    } finally {
      db.close();
    }
    expect(mutationsBeforeKills).toBeGreaterThan(kills * 10);
    expect(ledger.met429.size).toBeGreaterThan(0);
    expect(cooldownChecks).toBeGreaterThanOrEqual(3);
  }, 120_000);
});
