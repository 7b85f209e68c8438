import { describe, expect, it } from 'vitest';
import {
  foldRestartHistory,
  foldRestartLedger,
  summariseRestarts,
  whatAClearWipes,
  type LedgerEvent,
} from '../../../src/core/restartLedger.js';
import { decideRestart, emptyRestartHistory, type RestartPolicy, type WorkerEvent } from '../../../src/core/restartPolicy.js';

const policy: RestartPolicy = {
  restartSecMs: 10_000,
  restartMaxDelayMs: 300_000,
  stableAfterMs: 60_000,
  startLimitBurst: 5,
  startLimitIntervalMs: 300_000,
};

/** A ledger written by a fake clock: each event at the time the test moves it to, with an id for the last exit. */
function ledger(): { at(ms: number): void; add(kind: string): void; events: (LedgerEvent & { id: number })[] } {
  let now = 0;
  const events: (LedgerEvent & { id: number })[] = [];
  return {
    at: (ms) => {
      now = ms;
    },
    add: (kind) => {
      events.push({ id: events.length + 1, kind, at: now });
    },
    events,
  };
}

describe('foldRestartLedger', () => {
  it('is empty with no events', () => {
    expect(foldRestartLedger([], 0, policy)).toEqual({ history: emptyRestartHistory, gaveUp: false, lastExit: null });
  });

  it('wipes everything before the latest clear: failures, the count, a pending restart and the give-up', () => {
    const l = ledger();
    for (const ms of [0, 1_000, 2_000]) {
      l.at(ms);
      l.add('worker-failed');
    }
    l.add('gave-up');
    expect(foldRestartLedger(l.events, 3_000, policy)).toMatchObject({
      history: { failureTimes: [0, 1_000, 2_000], consecutiveFailures: 3, pendingFailureAt: 2_000 },
      gaveUp: true,
    });
    l.at(3_000);
    l.add('cleared');
    expect(foldRestartLedger(l.events, 3_000, policy)).toMatchObject({ history: emptyRestartHistory, gaveUp: false });
    // After the clear the count starts again from the first failure.
    l.at(4_000);
    l.add('worker-failed');
    expect(foldRestartLedger(l.events, 4_000, policy).history).toEqual({
      failureTimes: [4_000],
      consecutiveFailures: 1,
      pendingFailureAt: 4_000,
    });
  });

  it('ends a crash loop at a stable run but keeps its failures in the burst window until they age out', () => {
    const l = ledger();
    l.add('worker-failed');
    l.at(10_000);
    l.add('worker-failed');
    l.add('worker-started');
    l.at(70_000);
    l.add('worker-stable');
    l.at(100_000);
    l.add('worker-failed');
    expect(foldRestartLedger(l.events, 100_000, policy).history).toEqual({
      failureTimes: [0, 10_000, 100_000],
      consecutiveFailures: 1,
      pendingFailureAt: 100_000,
    });
    // Exactly one interval after the first failure it no longer counts; the second still does.
    expect(foldRestartLedger(l.events, 300_000, policy).history.failureTimes).toEqual([10_000, 100_000]);
    expect(foldRestartLedger(l.events, 310_000, policy).history.failureTimes).toEqual([100_000]);
  });

  it('keeps a restart due until a worker is started, and a give-up until a clear or a start', () => {
    const l = ledger();
    l.add('worker-failed');
    l.add('gave-up');
    // A supervisor starting again writes its own events: they change nothing of the worker's history.
    l.at(5_000);
    l.add('supervisor-started');
    expect(foldRestartLedger(l.events, 5_000, policy)).toMatchObject({ history: { pendingFailureAt: 0 }, gaveUp: true });
    l.add('worker-started');
    expect(foldRestartLedger(l.events, 5_000, policy)).toMatchObject({
      history: { pendingFailureAt: null, consecutiveFailures: 1 },
      gaveUp: false,
    });
  });

  it('names the last exit, failed or clean, even from before a stable run or a clear', () => {
    const l = ledger();
    l.add('worker-started');
    expect(foldRestartLedger(l.events, 0, policy).lastExit).toBeNull();
    l.at(1_000);
    l.add('worker-failed');
    l.add('worker-started');
    l.at(2_000);
    l.add('worker-exited');
    l.add('worker-started');
    l.at(70_000);
    l.add('worker-stable');
    l.add('cleared');
    expect(foldRestartLedger(l.events, 70_000, policy).lastExit).toEqual({ id: 4, kind: 'worker-exited', at: 2_000 });
  });

  it('gives what decideRestart built, event by event, whatever the clock says', () => {
    const script: [number, string, WorkerEvent][] = [
      [0, 'worker-started', { kind: 'started' }],
      [1_000, 'worker-failed', { kind: 'failure', cause: { kind: 'signal', signal: 'SIGKILL' } }],
      [1_000, 'worker-started', { kind: 'started' }],
      [2_000, 'worker-ready', { kind: 'ready' }],
      [62_000, 'worker-stable', { kind: 'stable' }],
      [90_000, 'worker-failed', { kind: 'failure', cause: { kind: 'exit-code', exitCode: 1 } }],
      [90_000, 'worker-started', { kind: 'started' }],
      [95_000, 'worker-failed', { kind: 'failure', cause: { kind: 'liveness', misses: 3 } }],
    ];
    let history = emptyRestartHistory;
    const events: LedgerEvent[] = [];
    for (const [at, kind, event] of script) {
      history = decideRestart(history, event, at, policy).history;
      events.push({ kind, at });
      for (const now of [at, at + 100_000, at + 299_999, at + 300_000]) {
        expect(foldRestartHistory(events, now, policy)).toEqual({
          ...history,
          failureTimes: history.failureTimes.filter((failedAt) => now - failedAt < policy.startLimitIntervalMs),
        });
      }
    }
  });
});

describe('summariseRestarts', () => {
  it('says what status shows: the failures in the interval, the next delay and the time left of a due restart', () => {
    const l = ledger();
    l.at(100_000);
    l.add('worker-failed');
    l.add('worker-started');
    l.at(101_000);
    l.add('worker-failed');
    const record = foldRestartLedger(l.events, 104_000, policy);
    expect(summariseRestarts(record, 104_000, policy)).toEqual({
      failuresInInterval: 2,
      consecutiveFailures: 2,
      nextRestartDelayMs: 20_000,
      restartDueInMs: 7_000,
      gaveUp: false,
      burstLimitReachable: true,
      lastExit: { id: 3, kind: 'worker-failed', at: 101_000 },
    });
    // Later, on the same record: the restart is overdue (a supervisor would start now), the failures have aged out.
    expect(summariseRestarts(foldRestartLedger(l.events, 401_000, policy), 401_000, policy)).toMatchObject({
      failuresInInterval: 0,
      consecutiveFailures: 2,
      restartDueInMs: 0,
    });
  });

  it('tells when the settings make the burst limit unreachable', () => {
    const lenient = { ...policy, startLimitIntervalMs: 10_000 };
    expect(summariseRestarts(foldRestartLedger([], 0, lenient), 0, lenient).burstLimitReachable).toBe(false);
  });
});

describe('whatAClearWipes', () => {
  it('reports what was there before the clear', () => {
    const l = ledger();
    for (const ms of [0, 100, 200]) {
      l.at(ms);
      l.add('worker-failed');
    }
    l.add('gave-up');
    expect(whatAClearWipes(foldRestartLedger(l.events, 300, policy), 300, policy)).toEqual({
      failuresInInterval: 3,
      consecutiveFailures: 3,
      gaveUp: true,
      restartWasDue: true,
      anything: true,
    });
  });

  it('says when there is nothing to wipe', () => {
    expect(whatAClearWipes(foldRestartLedger([{ kind: 'worker-started', at: 0 }], 10, policy), 10, policy)).toEqual({
      failuresInInterval: 0,
      consecutiveFailures: 0,
      gaveUp: false,
      restartWasDue: false,
      anything: false,
    });
  });
});
