import { describe, expect, it } from 'vitest';
import {
  burstLimitReachable,
  decideRestart,
  emptyRestartHistory,
  failuresWithin,
  restartDelayMs,
  startDelayMs,
  type FailureCause,
  type RestartDecision,
  type RestartHistory,
  type RestartPolicy,
  type WorkerEvent,
} from '../../../src/core/restartPolicy.js';
import { foldRestartHistory } from '../../../src/core/restartLedger.js';

const defaults: RestartPolicy = {
  restartSecMs: 10_000,
  restartMaxDelayMs: 300_000,
  stableAfterMs: 60_000,
  startLimitBurst: 5,
  startLimitIntervalMs: 300_000,
};

const crash: FailureCause = { kind: 'exit-code', exitCode: 1 };
const failure = (cause: FailureCause = crash): WorkerEvent => ({ kind: 'failure', cause });

/** Replays events at the given times and returns every decision, as the supervisor would see them. */
function replay(events: readonly (readonly [number, WorkerEvent])[], policy = defaults, start = emptyRestartHistory) {
  let history = start;
  const decisions: RestartDecision[] = [];
  for (const [at, event] of events) {
    const step = decideRestart(history, event, at, policy);
    history = step.history;
    decisions.push(step.decision);
  }
  return { history, decisions };
}

/** A worker that dies the moment it starts: the next failure comes exactly one delay later. */
function crashLoop(policy: RestartPolicy, limit = 100): { failureTimes: number[]; last: RestartDecision } {
  let history = emptyRestartHistory;
  let now = 0;
  const failureTimes: number[] = [];
  for (let i = 0; i < limit; i++) {
    const step = decideRestart(history, failure(), now, policy);
    history = step.history;
    failureTimes.push(now);
    if (step.decision.kind !== 'restart') return { failureTimes, last: step.decision };
    now += step.decision.delayMs;
  }
  throw new Error(`the crash loop was still restarting after ${limit} failures`);
}

describe('restartDelayMs', () => {
  it('restarts at once after the first failure in a row, then doubles from restart-sec with each further one', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => restartDelayMs(n, defaults))).toEqual([0, 10_000, 20_000, 40_000, 80_000, 160_000]);
  });

  it('is capped at restart-max-delay', () => {
    expect(restartDelayMs(7, defaults)).toBe(300_000);
    expect(restartDelayMs(60, defaults)).toBe(300_000);
    expect(restartDelayMs(10_000, defaults)).toBe(300_000);
  });

  it('treats zero failures like the first', () => {
    expect(restartDelayMs(0, defaults)).toBe(0);
  });

  it('is zero when restart-sec is zero, however many failures', () => {
    expect(restartDelayMs(1, { restartSecMs: 0, restartMaxDelayMs: 300_000 })).toBe(0);
    expect(restartDelayMs(40, { restartSecMs: 0, restartMaxDelayMs: 300_000 })).toBe(0);
  });

  it('is the cap from the start when the cap equals restart-sec', () => {
    expect(restartDelayMs(2, { restartSecMs: 5_000, restartMaxDelayMs: 5_000 })).toBe(5_000);
    expect(restartDelayMs(9, { restartSecMs: 5_000, restartMaxDelayMs: 5_000 })).toBe(5_000);
  });
});

describe('failuresWithin', () => {
  it('keeps only failures strictly younger than the interval', () => {
    expect(failuresWithin([0, 100, 200, 299], 400, { startLimitIntervalMs: 300 })).toEqual([200, 299]);
    expect(failuresWithin([100], 400, { startLimitIntervalMs: 300 })).toEqual([]);
    expect(failuresWithin([101], 400, { startLimitIntervalMs: 300 })).toEqual([101]);
  });
});

describe('decideRestart', () => {
  it('does not restart after a clean exit or a stop we asked for', () => {
    expect(decideRestart(emptyRestartHistory, { kind: 'clean-exit' }, 0, defaults).decision).toEqual({
      kind: 'no-restart',
      reason: 'clean-exit',
    });
    expect(decideRestart(emptyRestartHistory, { kind: 'stopped' }, 0, defaults).decision).toEqual({
      kind: 'no-restart',
      reason: 'stopped',
    });
  });

  it('restarts at once at the first failure, whatever the cause', () => {
    const causes: FailureCause[] = [
      { kind: 'exit-code', exitCode: 1 },
      { kind: 'signal', signal: 'SIGSEGV' },
      { kind: 'readiness-timeout', timeoutMs: 30_000 },
      { kind: 'liveness', misses: 3 },
      { kind: 'spawn-error', message: 'ENOENT' },
    ];
    for (const cause of causes) {
      expect(decideRestart(emptyRestartHistory, failure(cause), 1_000, defaults).decision).toEqual({
        kind: 'restart',
        delayMs: 0,
        consecutiveFailures: 1,
        failuresInInterval: 1,
      });
    }
  });

  it('records the failure in the history', () => {
    const { history } = decideRestart(emptyRestartHistory, failure(), 5_000, defaults);
    expect(history).toEqual({ failureTimes: [5_000], consecutiveFailures: 1, pendingFailureAt: 5_000 });
  });

  it('keeps running on start, ready and stable; stable resets the consecutive count only', () => {
    const after = replay([
      [0, failure()],
      [100, { kind: 'started' }],
      [500, { kind: 'ready' }],
      [60_500, { kind: 'stable' }],
    ]);
    expect(after.decisions.slice(1)).toEqual([{ kind: 'keep-running' }, { kind: 'keep-running' }, { kind: 'keep-running' }]);
    expect(after.history).toEqual({ failureTimes: [0], consecutiveFailures: 0, pendingFailureAt: null });
  });

  it('doubles the delay for failures in a row, and restarts at once again after a stable run', () => {
    const { decisions } = replay(
      [
        [0, failure()],
        [1_000, failure()],
        [11_000, failure()],
        [31_000, { kind: 'stable' }],
        [40_000, failure()],
        [41_000, failure()],
      ],
      { ...defaults, startLimitBurst: 10 },
    );
    expect(decisions.map((d) => (d.kind === 'restart' ? d.delayMs : d.kind))).toEqual([0, 10_000, 20_000, 'keep-running', 0, 10_000]);
  });

  it('keeps the burst window across a stable run: stability resets the delay, not the brakes', () => {
    const { decisions } = replay([
      [0, failure()],
      [1_000, failure()],
      [2_000, failure()],
      [3_000, failure()],
      [4_000, { kind: 'stable' }],
      [5_000, failure()],
    ]);
    expect(decisions.at(-1)).toEqual({ kind: 'give-up', consecutiveFailures: 1, failuresInInterval: 5 });
  });

  it('gives up at the burst-th failure within the interval', () => {
    const { decisions } = replay([0, 0, 10_000, 30_000, 70_000].map((at) => [at, failure()] as const));
    expect(decisions.slice(0, 4).every((d) => d.kind === 'restart')).toBe(true);
    expect(decisions[4]).toEqual({ kind: 'give-up', consecutiveFailures: 5, failuresInInterval: 5 });
  });

  it('slides the interval: failures older than it no longer count', () => {
    const { decisions, history } = replay([0, 100_000, 200_000, 299_999, 300_000, 400_000].map((at) => [at, failure()] as const));
    // At 300 000 the failure at 0 is exactly one interval old: out. Four remain, with this one.
    expect(decisions[4]).toMatchObject({ kind: 'restart', failuresInInterval: 4 });
    expect(decisions[5]).toMatchObject({ kind: 'restart', failuresInInterval: 4 });
    expect(history.failureTimes).toEqual([200_000, 299_999, 300_000, 400_000]);
  });

  it('gives up at the first failure when the burst is 1', () => {
    expect(decideRestart(emptyRestartHistory, failure(), 0, { ...defaults, startLimitBurst: 1 }).decision).toEqual({
      kind: 'give-up',
      consecutiveFailures: 1,
      failuresInInterval: 1,
    });
  });

  it('continues a history read back from the database: the count, the delay and the window', () => {
    const earlier: RestartHistory = { failureTimes: [0, 0, 10_000], consecutiveFailures: 3, pendingFailureAt: 10_000 };
    const { decisions } = replay(
      [
        [30_000, failure()],
        [70_000, failure()],
      ],
      defaults,
      earlier,
    );
    expect(decisions).toEqual([
      { kind: 'restart', delayMs: 40_000, consecutiveFailures: 4, failuresInInterval: 4 },
      { kind: 'give-up', consecutiveFailures: 5, failuresInInterval: 5 },
    ]);
  });

  it('a clean exit or a stop leaves the history as it was', () => {
    const earlier: RestartHistory = { failureTimes: [0], consecutiveFailures: 1, pendingFailureAt: null };
    expect(decideRestart(earlier, { kind: 'clean-exit' }, 5, defaults).history).toBe(earlier);
    expect(decideRestart(earlier, { kind: 'stopped' }, 5, defaults).history).toBe(earlier);
  });
});

describe('a crash loop under the defaults', () => {
  it('fails at about 0, 0, 10, 30 and 70 s, and then gives up', () => {
    const loop = crashLoop(defaults);
    expect(loop.failureTimes).toEqual([0, 0, 10_000, 30_000, 70_000]);
    expect(loop.last).toEqual({ kind: 'give-up', consecutiveFailures: 5, failuresInInterval: 5 });
  });

  it('gives up for every burst and interval the reachability check calls reachable', () => {
    for (const startLimitBurst of [1, 2, 3, 5, 8]) {
      for (const startLimitIntervalMs of [1_000, 60_000, 150_000, 150_001, 300_000, 3_600_000]) {
        for (const restartSecMs of [0, 1_000, 10_000]) {
          const policy = { ...defaults, startLimitBurst, startLimitIntervalMs, restartSecMs };
          const { reachable } = burstLimitReachable(policy);
          if (reachable) expect(crashLoop(policy).last.kind, JSON.stringify(policy)).toBe('give-up');
          else expect(() => crashLoop(policy, 50), JSON.stringify(policy)).toThrow(/still restarting/);
        }
      }
    }
  });
});

describe('burstLimitReachable', () => {
  it('is reachable with the defaults: the loop spans 70 s of a 300 s interval', () => {
    expect(burstLimitReachable(defaults)).toEqual({ reachable: true, crashLoopSpanMs: 70_000 });
  });

  it('is unreachable when the restarts between the burst failures take the whole interval or more', () => {
    expect(burstLimitReachable({ ...defaults, startLimitIntervalMs: 70_000 })).toEqual({ reachable: false, crashLoopSpanMs: 70_000 });
    expect(burstLimitReachable({ ...defaults, restartSecMs: 60_000 })).toEqual({
      reachable: false,
      crashLoopSpanMs: 0 + 60_000 + 120_000 + 240_000,
    });
  });

  it('counts capped delays at the cap', () => {
    expect(burstLimitReachable({ ...defaults, startLimitBurst: 9, startLimitIntervalMs: 3_600_000 }).crashLoopSpanMs).toBe(
      0 + 10_000 + 20_000 + 40_000 + 80_000 + 160_000 + 300_000 + 300_000,
    );
    expect(burstLimitReachable({ ...defaults, restartSecMs: 5_000, restartMaxDelayMs: 5_000 }).crashLoopSpanMs).toBe(3 * 5_000);
  });

  it('is always reachable with no delay or a burst of 1', () => {
    expect(burstLimitReachable({ ...defaults, restartSecMs: 0, restartMaxDelayMs: 0 })).toEqual({ reachable: true, crashLoopSpanMs: 0 });
    expect(burstLimitReachable({ ...defaults, startLimitBurst: 1, startLimitIntervalMs: 1 })).toEqual({
      reachable: true,
      crashLoopSpanMs: 0,
    });
  });

  it('stays quick for an enormous burst', () => {
    expect(burstLimitReachable({ ...defaults, startLimitBurst: 1_000_000_000 }).reachable).toBe(false);
  });
});

describe('startDelayMs', () => {
  it('is zero with no history, after a stable run, or once a worker has started since the failure', () => {
    expect(startDelayMs(emptyRestartHistory, 0, defaults)).toBe(0);
    expect(startDelayMs({ failureTimes: [0], consecutiveFailures: 0, pendingFailureAt: 0 }, 1, defaults)).toBe(0);
    expect(startDelayMs({ failureTimes: [0], consecutiveFailures: 1, pendingFailureAt: null }, 1, defaults)).toBe(0);
  });

  it('is what is left of the delay the last failure asked for', () => {
    const history: RestartHistory = { failureTimes: [0, 0, 10_000], consecutiveFailures: 3, pendingFailureAt: 10_000 };
    expect(startDelayMs(history, 11_000, defaults)).toBe(19_000);
    expect(startDelayMs(history, 30_000, defaults)).toBe(0);
    expect(startDelayMs(history, 90_000, defaults)).toBe(0);
  });

  it('holds after a give-up too: the next start waits as the next restart would have', () => {
    const { history } = replay([0, 0, 10_000, 30_000, 70_000].map((at) => [at, failure()] as const));
    expect(startDelayMs(history, 70_000, defaults)).toBe(80_000);
  });
});

describe('foldRestartHistory', () => {
  const at = (kind: string, when: number) => ({ kind, at: when });

  it('is empty with no events', () => {
    expect(foldRestartHistory([], 0, defaults)).toEqual(emptyRestartHistory);
  });

  it('counts failures in the window, failures since the last stable run, and a restart still due', () => {
    const events = [
      at('worker-failed', 0),
      at('worker-started', 10),
      at('worker-stable', 60_010),
      at('worker-failed', 100_000),
      at('worker-started', 100_100),
      at('worker-failed', 110_000),
    ];
    expect(foldRestartHistory(events, 120_000, defaults)).toEqual({
      failureTimes: [0, 100_000, 110_000],
      consecutiveFailures: 2,
      pendingFailureAt: 110_000,
    });
    // The first failure leaves the window; a started worker means no restart is due any more.
    expect(foldRestartHistory([...events, at('worker-started', 110_100)], 300_000, defaults)).toEqual({
      failureTimes: [100_000, 110_000],
      consecutiveFailures: 2,
      pendingFailureAt: null,
    });
  });

  it('keeps a give-up pending, as the restart the next supervisor must wait for', () => {
    expect(foldRestartHistory([at('worker-failed', 5), at('gave-up', 5)], 10, defaults)).toEqual({
      failureTimes: [5],
      consecutiveFailures: 1,
      pendingFailureAt: 5,
    });
  });

  it('gives what decideRestart built, event by event', () => {
    const { history } = replay([
      [0, failure()],
      [1_000, { kind: 'started' }],
      [2_000, failure()],
      [3_000, { kind: 'started' }],
      [4_000, { kind: 'stable' }],
      [5_000, failure()],
    ]);
    const events = [
      at('worker-failed', 0),
      at('worker-started', 1_000),
      at('worker-failed', 2_000),
      at('worker-started', 3_000),
      at('worker-stable', 4_000),
      at('worker-failed', 5_000),
    ];
    expect(foldRestartHistory(events, 5_000, defaults)).toEqual(history);
  });
});
