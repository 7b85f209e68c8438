import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FailureCause, RestartPolicy } from '../../../src/core/restartPolicy.js';
import { openStore } from '../../../src/store/openStore.js';
import { openDatabase } from '../../../src/store/sqlite/open.js';
import type { SupervisorEventRecord } from '../../../src/store/port.js';
import { SupervisorStore } from '../../../src/store/sqlite/supervisorStore.js';
import { readRestartSummary } from '../../../src/warden/restartSummary.js';
import { SupervisorLedger } from '../../../src/warden/supervisorLedger.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';
import { openSqliteLedger, sqlOf } from '../../helpers/sqliteWarden.js';

const policy: RestartPolicy = {
  restartSecMs: 10_000,
  restartMaxDelayMs: 300_000,
  stableAfterMs: 60_000,
  startLimitBurst: 5,
  startLimitIntervalMs: 300_000,
};
const crash: FailureCause = { kind: 'exit-code', exitCode: 1 };

const scratch = new ScratchDirs();
const open: SupervisorLedger[] = [];

afterEach(async () => {
  for (const ledger of open.splice(0)) await ledger.close();
  scratch.removeAll();
});

/** A ledger on a real database file, with a clock the test moves. */
async function ledgerAt(dbPath: string, clock: { now: number }, pid = 1000): Promise<SupervisorLedger> {
  const ledger = await openSqliteLedger(dbPath, { policy, clock: () => clock.now, pid });
  open.push(ledger);
  return ledger;
}

/** The latest events, newest first, read through a connection of the test's own. */
function recentEvents(ledger: SupervisorLedger, limit: number): SupervisorEventRecord[] {
  const db = openDatabase(ledger.location, { readonly: true });
  try {
    return new SupervisorStore(db).recent(limit);
  } finally {
    db.close();
  }
}

function freshDb(): string {
  return join(scratch.make(), 'ratewarden.db');
}

describe('SupervisorLedger while its store is away (issue 26)', () => {
  it('decides failures from the history in memory while the SQLite file is locked, and writes them, in order, once it is free', async () => {
    const dbPath = freshDb();
    const clock = { now: 1_000_000 };
    const ledger = await openSqliteLedger(dbPath, { policy, clock: () => clock.now, pid: 1000, name: '127.0.0.1:8787', busyTimeoutMs: 50 });
    open.push(ledger);
    await ledger.supervisorStarted('test');
    const locker = openDatabase(dbPath);
    try {
      locker.exec('BEGIN EXCLUSIVE');
      const first = await ledger.workerFailed(11, crash, 'exit code 1');
      expect(first).toMatchObject({ durable: false, decision: { kind: 'restart', delayMs: 0, consecutiveFailures: 1 } });
      clock.now += 1_000;
      await ledger.workerStarted(12, 'stand-in');
      clock.now += 1_000;
      const second = await ledger.workerFailed(12, crash, 'exit code 1');
      expect(second).toMatchObject({
        durable: false,
        decision: { kind: 'restart', delayMs: 10_000, consecutiveFailures: 2, failuresInInterval: 2 },
      });
      expect(ledger.unwrittenCount).toBe(3);
      expect(await ledger.clearedAfter(second.eventId)).toBe(false);
      locker.exec('ROLLBACK');
    } finally {
      locker.close();
    }
    await ledger.flush();
    expect(ledger.unwrittenCount).toBe(0);
    const written = recentEvents(ledger, 10).reverse();
    expect(written.map((event) => `${event.kind}@${event.at - 1_000_000}`)).toEqual([
      'supervisor-started@0',
      'worker-failed@0',
      'worker-started@1000',
      'worker-failed@2000',
    ]);
    expect(written.at(-1)).toMatchObject({ supervisor: '127.0.0.1:8787', workerPid: 12, delayMs: 10_000 });
    // The store has it all again: the next failure is decided from it, the third in a row.
    expect((await ledger.workerFailed(13, crash, 'exit code 1')).decision).toMatchObject({
      kind: 'restart',
      delayMs: 20_000,
      consecutiveFailures: 3,
    });
  });
});

describe('SupervisorLedger', () => {
  it('decides each failure from the recorded history and records the chosen delay', async () => {
    const clock = { now: 1_000_000 };
    const ledger = await ledgerAt(freshDb(), clock);
    await ledger.supervisorStarted('test');
    const delays: number[] = [];
    for (const at of [0, 10_000, 30_000, 70_000]) {
      clock.now = 1_000_000 + at;
      await ledger.workerStarted(4242, 'stand-in');
      const { decision } = await ledger.workerFailed(4242, crash, 'exit code 1');
      expect(decision.kind).toBe('restart');
      if (decision.kind === 'restart') delays.push(decision.delayMs);
    }
    expect(delays).toEqual([0, 10_000, 20_000, 40_000]);
    const failures = recentEvents(ledger, 50).filter((event) => event.kind === 'worker-failed');
    expect(failures.map((event) => event.delayMs).reverse()).toEqual([0, 10_000, 20_000, 40_000]);
    expect(failures[0]).toMatchObject({
      workerPid: 4242,
      exitCode: 1,
      signal: null,
      cause: 'exit-code',
      detail: 'exit code 1',
      supervisorPid: 1000,
    });
  });

  it('gives up at the burst and records a gave-up event with the last cause', async () => {
    const clock = { now: 5_000_000 };
    const ledger = await ledgerAt(freshDb(), clock);
    let last = await ledger.workerFailed(1, crash, 'exit code 1');
    for (let i = 1; i < 5; i++) {
      clock.now += 1_000;
      last = await ledger.workerFailed(1, { kind: 'signal', signal: 'SIGSEGV' }, 'signal SIGSEGV');
    }
    expect(last.decision).toEqual({ kind: 'give-up', consecutiveFailures: 5, failuresInInterval: 5 });
    const [gaveUp, failed] = recentEvents(ledger, 2);
    expect(gaveUp).toMatchObject({
      kind: 'gave-up',
      cause: 'signal',
      signal: 'SIGSEGV',
      delayMs: 80_000,
      detail: '5 failures within 5m; last: signal SIGSEGV',
    });
    expect(failed).toMatchObject({ kind: 'worker-failed', delayMs: null });
    expect(await ledger.summary()).toMatchObject({ gaveUp: true, failuresInInterval: 5, consecutiveFailures: 5 });
  });

  it('lets a new supervisor on the same database continue the count, the delay and the burst window', async () => {
    const dbPath = freshDb();
    const clock = { now: 9_000_000 };
    const first = await ledgerAt(dbPath, clock, 1);
    await first.supervisorStarted('first');
    await first.workerFailed(11, crash, 'exit code 1');
    clock.now += 10_000;
    await first.workerStarted(12, 'stand-in');
    await first.workerFailed(12, crash, 'exit code 1');
    await first.close();

    clock.now += 5_000;
    const second = await ledgerAt(dbPath, clock, 2);
    const start = await second.supervisorStarted('second');
    expect(start.history.consecutiveFailures).toBe(2);
    expect(start.failuresInInterval).toBe(2);
    // The second failure asked for 10 s; 5 s of it have passed.
    expect(start.startDelayMs).toBe(5_000);

    clock.now += 5_000;
    await second.workerStarted(21, 'stand-in');
    expect((await second.workerFailed(21, crash, 'exit code 1')).decision).toMatchObject({
      kind: 'restart',
      delayMs: 20_000,
      consecutiveFailures: 3,
      failuresInInterval: 3,
    });
  });

  it('does not make a new supervisor wait once a worker has started since the last failure', async () => {
    const dbPath = freshDb();
    const clock = { now: 1_000 };
    const first = await ledgerAt(dbPath, clock, 1);
    await first.workerFailed(11, crash, 'exit code 1');
    clock.now += 10_000;
    await first.workerStarted(12, 'stand-in');
    await first.workerReady(12, 'http://127.0.0.1:1');
    await first.close();
    const start = await (await ledgerAt(dbPath, clock, 2)).supervisorStarted('second');
    expect(start.startDelayMs).toBe(0);
    expect(start.history.consecutiveFailures).toBe(1);
  });

  it('resets the consecutive count after a stable run but keeps the burst window', async () => {
    const clock = { now: 1_000 };
    const ledger = await ledgerAt(freshDb(), clock);
    await ledger.workerFailed(1, crash, 'exit code 1');
    clock.now += 1_000;
    await ledger.workerFailed(2, crash, 'exit code 1');
    clock.now += 1_000;
    await ledger.workerStarted(3, 'stand-in');
    await ledger.workerReady(3, 'http://127.0.0.1:1');
    await ledger.workerStable(3);
    clock.now += 1_000;
    expect((await ledger.workerFailed(3, crash, 'exit code 1')).decision).toEqual({
      kind: 'restart',
      delayMs: 0,
      consecutiveFailures: 1,
      failuresInInterval: 3,
    });
  });

  it('clears the brakes for the operator: an event, an audit row, and a history that starts from nothing', async () => {
    const clock = { now: 1_000 };
    const ledger = await ledgerAt(freshDb(), clock);
    for (let i = 0; i < 5; i++) {
      await ledger.workerFailed(1, crash, 'exit code 1');
      clock.now += 100;
    }
    const failureId = (await ledger.workerFailed(1, crash, 'exit code 1')).eventId;
    expect(await ledger.clearedAfter(failureId)).toBe(false);

    const cleared = await ledger.clear('alice', 'fixed the upstream URL');
    expect(cleared).toEqual({ failuresInInterval: 6, consecutiveFailures: 6, gaveUp: true, restartWasDue: true, anything: true });
    expect(await ledger.clearedAfter(failureId)).toBe(true);
    const audit = sqlOf(ledger).all('SELECT action, actor, reason, detail FROM audit_log');
    expect(audit).toEqual([
      { action: 'reset-restarts', actor: 'alice', reason: 'fixed the upstream URL', detail: JSON.stringify(cleared) },
    ]);

    expect(await ledger.supervisorStarted('after reset')).toMatchObject({
      startDelayMs: 0,
      failuresInInterval: 0,
      history: { consecutiveFailures: 0 },
    });
    expect((await ledger.workerFailed(1, crash, 'exit code 1')).decision).toEqual({
      kind: 'restart',
      delayMs: 0,
      consecutiveFailures: 1,
      failuresInInterval: 1,
    });
  });

  it('says when there was nothing to clear', async () => {
    const ledger = await ledgerAt(freshDb(), { now: 1 });
    expect(await ledger.clear('bob', null)).toEqual({
      failuresInInterval: 0,
      consecutiveFailures: 0,
      gaveUp: false,
      restartWasDue: false,
      anything: false,
    });
  });

  it('summarises the history for status on a read-only connection', async () => {
    const dbPath = freshDb();
    const clock = { now: 100_000 };
    const ledger = await ledgerAt(dbPath, clock);
    await ledger.workerFailed(6, crash, 'exit code 1');
    await ledger.workerFailed(7, { kind: 'liveness', misses: 3 }, 'liveness failure (3 health probes missed in a row)');
    let now = 104_000;
    const reader = await openStore({ db: dbPath, clock: () => now, readonly: true });
    try {
      expect(await readRestartSummary(reader, policy)).toEqual({
        failuresInInterval: 2,
        consecutiveFailures: 2,
        nextRestartDelayMs: 20_000,
        restartDueInMs: 6_000,
        gaveUp: false,
        burstLimitReachable: true,
        lastExit: expect.objectContaining({ kind: 'worker-failed', workerPid: 7, cause: 'liveness', delayMs: 10_000 }),
      });
      // Once the failure is older than the interval it no longer counts.
      now = 100_000 + 300_000;
      expect((await readRestartSummary(reader, policy)).failuresInInterval).toBe(0);
    } finally {
      await reader.close();
    }
  });
});
