import { describe, expect, it } from 'vitest';
import { calibrationReport } from '../../../src/core/calibrationReport.js';
import { fleetProcesses, processStatus, type HeartbeatRow } from '../../../src/core/processLiveness.js';
import { assembleStatus, windowStartFor, type StatusInput, type StatusSnapshot } from '../../../src/core/statusReport.js';
import { supervisorHistoryReport, type RestartHistoryView } from '../../../src/core/supervisorReport.js';
import { defaultLimiterPolicy, initialLimiterState, type LimiterState } from '../../../src/core/types.js';

const now = 1_800_000_000_000;

const quietHistory: RestartHistoryView = {
  failuresInInterval: 0,
  consecutiveFailures: 0,
  nextRestartDelayMs: 10_000,
  restartDueInMs: 0,
  gaveUp: false,
  burstLimitReachable: true,
  lastExit: null,
};

function snapshot(overrides: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    state: { ...initialLimiterState, tokenBudget: 10_000, requestBudget: 100, configuredTokenBudget: 10_000, configuredRequestBudget: 100 },
    buckets: [],
    refusals: { cooldown: 0, budget: 0 },
    processes: [],
    adjustments: [],
    lastAdjustmentByKind: { tokens: null, requests: null },
    sampleCounts: [],
    sampleSummaries: [],
    rateLimitEvents: [],
    lastOperatorAction: null,
    ...overrides,
  };
}

function input(overrides: Partial<StatusInput> = {}): StatusInput {
  return {
    database: '/tmp/rw.db',
    snapshot: snapshot(),
    now,
    policy: defaultLimiterPolicy,
    restartHistory: quietHistory,
    startLimit: { startLimitBurst: 5, startLimitIntervalMs: 300_000 },
    policyOrigins: {
      worker: { source: 'not-recorded', pid: null, writtenAt: null },
      supervisor: { source: 'not-recorded', pid: null, writtenAt: null },
    },
    restartPolicy: {
      restartSecMs: 10_000,
      restartMaxDelayMs: 300_000,
      stableAfterMs: 60_000,
      startLimitBurst: 5,
      startLimitIntervalMs: 300_000,
    },
    configuredUpstream: null,
    heartbeatStaleAfterMs: { worker: 6_000, supervisor: 15_000 },
    livePids: new Set(),
    ...overrides,
  };
}

const withState = (state: Partial<LimiterState>): StatusSnapshot => snapshot({ state: { ...snapshot().state, ...state } });

describe('assembleStatus: the cooldown and the probe', () => {
  it('is closed with nothing in force on a fresh state', () => {
    const report = assembleStatus(input());
    expect(report.cooldown).toMatchObject({
      active: false,
      phase: 'closed',
      remainingMs: 0,
      backoffLevel: 0,
      consecutive429s: 0,
      nextCooldownMs: 30_000,
    });
    expect(report.consecutive429s).toBe(0);
    expect(report.probe).toMatchObject({ halfOpen: false, inFlight: false, requestId: null, ageMs: null });
  });

  it('reports the time left of an active cooldown and what the next 429 would start', () => {
    const state = {
      consecutive429s: 2,
      backoffLevel: 2,
      cooldownStartedAt: now - 20_000,
      cooldownUntil: now + 40_000,
      last429At: now - 20_000,
    };
    const report = assembleStatus(input({ snapshot: withState(state) }));
    expect(report.cooldown).toMatchObject({
      active: true,
      phase: 'cooling',
      remainingMs: 40_000,
      until: now + 40_000,
      backoffLevel: 2,
      consecutive429s: 2,
    });
    expect(report.cooldown.nextCooldownMs).toBe(120_000);
    expect(report.consecutive429s).toBe(2);
  });

  it('caps the next cooldown at backoff-max', () => {
    const report = assembleStatus(input({ snapshot: withState({ consecutive429s: 9, backoffLevel: 9 }) }));
    expect(report.cooldown.nextCooldownMs).toBe(300_000);
  });

  it('shows a half-open breaker with its probe in flight, and one whose probe timed out', () => {
    const state = {
      consecutive429s: 1,
      backoffLevel: 1,
      cooldownStartedAt: now - 40_000,
      cooldownUntil: now - 10_000,
      probeRequestId: 7,
      probeStartedAt: now - 2_000,
    };
    const inFlight = assembleStatus(input({ snapshot: withState(state) }));
    expect(inFlight.cooldown).toMatchObject({ active: false, phase: 'half-open', remainingMs: 0 });
    expect(inFlight.probe).toMatchObject({
      halfOpen: true,
      inFlight: true,
      requestId: 7,
      startedAt: now - 2_000,
      ageMs: 2_000,
      timeoutMs: 60_000,
    });

    const timedOut = assembleStatus(input({ snapshot: withState({ ...state, probeStartedAt: now - 61_000 }) }));
    expect(timedOut.probe).toMatchObject({ halfOpen: true, inFlight: false });
  });
});

describe('assembleStatus: window, budget and controller', () => {
  it('sums the window in the configured token metric', () => {
    const buckets = [
      { start: now - 30_000, inputTokens: 100, outputTokens: 50, requests: 2 },
      { start: now - 1_000, inputTokens: 10, outputTokens: 5, requests: 1 },
    ];
    const total = assembleStatus(input({ snapshot: snapshot({ buckets }) }));
    expect(total.window).toEqual({ lengthMs: 60_000, tokenMetric: 'total', tokensUsed: 165, requestsUsed: 3 });
    const output = assembleStatus(input({ snapshot: snapshot({ buckets }), policy: { ...defaultLimiterPolicy, tokenMetric: 'output' } }));
    expect(output.window.tokensUsed).toBe(55);
  });

  it('reads the window from the bucket that overlaps its start', () => {
    expect(windowStartFor(now, { windowMs: 60_000 })).toBe(now - 60_000 - 600 + 1);
  });

  it('judges the gates with the budgets the proxy adopted, not the ones this command was given', () => {
    const state = { tokenBudget: 5_000, configuredTokenBudget: 8_000, firstRequestAt: now - 7_200_000 };
    const buckets = [{ start: now - 5_000, inputTokens: 1_000, outputTokens: 0, requests: 1 }];
    const report = assembleStatus(
      input({ snapshot: snapshot({ ...withState(state), buckets }), policy: { ...defaultLimiterPolicy, tokenBudget: null } }),
    );
    expect(report.budget).toMatchObject({ tokens: 5_000, configuredTokens: 8_000, tokenCeiling: 8_000 });
    expect(report.controller.gates.tokens).toMatchObject({
      allOpen: true,
      history: { open: true },
      consumption: { open: true },
      quiet: { open: true },
      headroom: { open: true, why: 'budget 5000, ceiling 8000' },
      pace: { open: true },
    });
  });

  it('holds the controller while the quiet period after a 429 runs', () => {
    const report = assembleStatus(input({ snapshot: withState({ last429At: now - 60_000, firstRequestAt: now - 7_200_000 }) }));
    expect(report.controller.gates.tokens.quiet).toEqual({ open: false, why: 'last upstream 429 60 s ago, 900 s of quiet needed' });
    expect(report.controller.gates.tokens.allOpen).toBe(false);
  });

  it('shows a cut that has not healed against known-good, with the cut that made it; nothing once it healed', () => {
    const cutRow = {
      at: now - 5_000,
      kind: 'tokens' as const,
      from: 10_000,
      to: 49,
      reason: 'cut',
      gates: null,
      detail: 'upstream 429 with 70 in the window',
    };
    const cut = assembleStatus(input({ snapshot: snapshot({ state: { ...snapshot().state, tokenBudget: 49 }, adjustments: [cutRow] }) }));
    expect(cut.budget).toMatchObject({
      knownGoodTokens: 10_000,
      knownGoodRequests: 100,
      cuts: { tokens: { budget: 49, knownGood: 10_000, cut: cutRow }, requests: null },
    });
    const healed = assembleStatus(
      input({ snapshot: snapshot({ adjustments: [{ ...cutRow, at: now - 1_000, from: 49, to: 10_000, reason: 'recover' }, cutRow] }) }),
    );
    expect(healed.budget.cuts).toEqual({ tokens: null, requests: null });
  });

  it('passes the adjustments through, newest first', () => {
    const cut = { at: now - 1_000, kind: 'tokens' as const, from: 10_000, to: 7_000, reason: 'cut', gates: null, detail: 'upstream 429' };
    const raise = {
      at: now - 90_000,
      kind: 'requests' as const,
      from: 90,
      to: 100,
      reason: 'raise',
      gates: null,
      detail: 'every gate open',
    };
    const report = assembleStatus(
      input({ snapshot: snapshot({ adjustments: [cut, raise], lastAdjustmentByKind: { tokens: cut, requests: raise } }) }),
    );
    expect(report.controller.lastAdjustment).toEqual(cut);
    expect(report.controller.lastAdjustmentByKind.requests).toEqual(raise);
    expect(report.controller.recentAdjustments).toHaveLength(2);
  });
});

describe('assembleStatus: processes and the upstream', () => {
  const worker: HeartbeatRow = {
    role: 'worker',
    pid: 41,
    startedAt: now - 60_000,
    heartbeatAt: now - 1_000,
    listen: 'http://127.0.0.1:8787',
    upstream: 'https://api.anthropic.com',
  };

  it('takes the upstream from a running worker first, then the configuration, then the last worker', () => {
    const rows = { snapshot: snapshot({ processes: [worker] }) };
    expect(assembleStatus(input({ ...rows, livePids: new Set([41]), configuredUpstream: 'https://x.test' })).upstream).toEqual({
      url: 'https://api.anthropic.com',
      from: 'worker',
    });
    expect(assembleStatus(input({ ...rows, configuredUpstream: 'https://x.test' })).upstream).toEqual({
      url: 'https://x.test',
      from: 'configuration',
    });
    expect(assembleStatus(input(rows)).upstream).toEqual({ url: 'https://api.anthropic.com', from: 'last-worker' });
    expect(assembleStatus(input()).upstream).toEqual({ url: null, from: 'none' });
  });

  it('merges the supervisor process with its restart history', () => {
    const supervisor: HeartbeatRow = {
      role: 'supervisor',
      pid: 40,
      startedAt: now - 120_000,
      heartbeatAt: now - 500,
      listen: null,
      upstream: null,
    };
    const history: RestartHistoryView = {
      ...quietHistory,
      failuresInInterval: 5,
      consecutiveFailures: 5,
      gaveUp: true,
      lastExit: {
        at: now - 3_000,
        kind: 'worker-failed',
        workerPid: 44,
        exitCode: 1,
        signal: null,
        cause: 'exit-code',
        detail: 'exit code 1',
      },
    };
    const report = assembleStatus(
      input({ snapshot: snapshot({ processes: [supervisor] }), livePids: new Set([40]), restartHistory: history }),
    );
    expect(report.supervisor).toMatchObject({
      running: true,
      pid: 40,
      failuresInInterval: 5,
      burstLimit: 5,
      intervalMs: 300_000,
      gaveUp: true,
    });
    expect(report.supervisor.lastExit).toEqual({
      at: now - 3_000,
      failed: true,
      workerPid: 44,
      exitCode: 1,
      signal: null,
      cause: 'exit-code',
      detail: 'exit code 1',
    });
  });
});

describe('processStatus', () => {
  const row = (pid: number, heartbeatAgo: number): HeartbeatRow => ({
    role: 'worker',
    pid,
    startedAt: now - 100_000,
    heartbeatAt: now - heartbeatAgo,
    listen: null,
    upstream: null,
  });
  const liveness = (rows: HeartbeatRow[], live: number[]) => ({
    rows,
    now,
    staleAfterMs: { worker: 6_000, supervisor: 15_000 },
    livePids: new Set(live),
  });

  it('needs both a fresh heartbeat and a live pid to call a process running', () => {
    expect(processStatus('worker', liveness([row(1, 1_000)], [1]))).toMatchObject({
      running: true,
      state: 'running',
      heartbeatAgeMs: 1_000,
    });
    expect(processStatus('worker', liveness([row(1, 9_000)], [1]))).toMatchObject({ running: false, state: 'not-responding' });
    expect(processStatus('worker', liveness([row(1, 1_000)], []))).toMatchObject({ running: false, state: 'gone' });
    expect(processStatus('worker', liveness([], []))).toMatchObject({ running: false, state: 'stopped', pid: null });
    expect(processStatus('supervisor', liveness([row(1, 1_000)], [1]))).toMatchObject({ state: 'stopped' });
  });

  it('judges each role by its own heartbeat period', () => {
    const supervisor: HeartbeatRow = { ...row(1, 9_000), role: 'supervisor' };
    expect(processStatus('supervisor', liveness([supervisor], [1]))).toMatchObject({ running: true });
  });

  it('prefers the running process over rows an earlier one left behind', () => {
    const status = processStatus('worker', liveness([row(1, 500), row(2, 2_000)], [2]));
    expect(status).toMatchObject({ running: true, pid: 2 });
    expect(processStatus('worker', liveness([row(1, 60_000), row(2, 30_000)], []))).toMatchObject({ state: 'gone', pid: 2 });
  });
});

describe('processes of several hosts (a store shared by hosts)', () => {
  const staleAfterMs = { worker: 6_000, supervisor: 15_000 };
  const row = (host: string, pid: number, heartbeatAgo: number): HeartbeatRow => ({
    host,
    role: 'worker',
    pid,
    startedAt: now - 100_000,
    heartbeatAt: now - heartbeatAgo,
    listen: null,
    upstream: null,
  });
  const rows = [row('other', 7, 1_000), row('here', 3, 1_000), row('other', 8, 60_000), row('here', 4, 60_000)];
  // Pid 8 and 4 are alive on this host, pid 7 is not: only this host's rows may be judged by that.
  const liveness = { rows, now, staleAfterMs, livePids: new Set([3, 4, 8]), thisHost: 'here' };

  it("judges another host's process by its heartbeat's age alone, never by a pid check made here", () => {
    expect(fleetProcesses(liveness).map((process) => [process.host, process.pid, process.state, process.thisHost])).toEqual([
      ['here', 3, 'running', true],
      ['here', 4, 'not-responding', true],
      ['other', 7, 'running', false],
      ['other', 8, 'silent', false],
    ]);
  });

  it("reports this host's worker as the worker, never another host's", () => {
    expect(processStatus('worker', liveness)).toMatchObject({ running: true, pid: 3 });
    expect(processStatus('worker', { ...liveness, rows: [row('other', 7, 1_000)] })).toMatchObject({ state: 'stopped' });
  });

  it("treats rows without a host (SQLite) as this host's", () => {
    const local: HeartbeatRow = {
      role: 'worker',
      pid: 3,
      startedAt: now - 100_000,
      heartbeatAt: now - 1_000,
      listen: null,
      upstream: null,
    };
    expect(fleetProcesses({ rows: [local], now, staleAfterMs, livePids: new Set([3]) })).toMatchObject([
      { host: null, thisHost: true, state: 'running' },
    ]);
  });
});

describe('calibrationReport', () => {
  it('counts every sample, the zero-token ones apart, and always lists the three kinds', () => {
    const report = calibrationReport(
      [
        { kind: 'window', count: 4, zeroTokens: 3 },
        { kind: 'upstream-429', count: 2, zeroTokens: 0 },
      ],
      [
        { kind: 'window', count: 1, medianTokens: 900, minTokens: 900, maxTokens: 900 },
        { kind: 'upstream-429', count: 2, medianTokens: 5_000, minTokens: 4_000, maxTokens: 6_000 },
      ],
      { tokens: null, requests: null },
    );
    expect(report.samples).toBe(6);
    expect(report.zeroTokenSamples).toBe(3);
    expect(report.byKind.map((kind) => kind.kind)).toEqual(['upstream-429', 'reported-limit', 'window']);
    expect(report.byKind[1]).toEqual({
      kind: 'reported-limit',
      count: 0,
      zeroTokens: 0,
      medianTokens: null,
      minTokens: null,
      maxTokens: null,
    });
    expect(report.estimate).toMatchObject({ tokens: 5_000, basis: 'upstream-429', samples: 2 });
  });

  it('has no estimate without samples or a reported limit', () => {
    expect(calibrationReport([], [], { tokens: null, requests: null }).estimate.basis).toBe('none');
    expect(calibrationReport([], [], { tokens: 80_000, requests: 50 }).estimate).toMatchObject({
      basis: 'reported-limit',
      tokens: 80_000,
      requests: 50,
    });
  });
});

describe('supervisorHistoryReport', () => {
  it('tells a clean exit from a failure', () => {
    const clean = supervisorHistoryReport(
      {
        ...quietHistory,
        lastExit: { at: now, kind: 'worker-exited', workerPid: 9, exitCode: 0, signal: null, cause: null, detail: 'exit code 0' },
      },
      { startLimitBurst: 3, startLimitIntervalMs: 60_000 },
    );
    expect(clean).toMatchObject({ burstLimit: 3, intervalMs: 60_000, gaveUp: false, lastExit: { failed: false, exitCode: 0 } });
  });
});

describe('assembleStatus: what the live page adds', () => {
  it("carries the history and the serving proxy's queue when given, and null for both from the CLI", () => {
    const plain = assembleStatus(input());
    expect(plain.history).toBeNull();
    expect(plain.live).toBeNull();
    const history = {
      since: now - 3_600_000,
      spanMs: 3_600_000,
      adjustments: [],
      upstream429s: [],
      reservations: [],
      reservationsInFlight: 0,
      reported: [],
      supervisorEvents: [],
    };
    const live = {
      proxy: 'http://127.0.0.1:8787',
      queue: [{ scope: 'k/claude-haiku', length: 3, oldestWaitMs: 1_200 }],
      refusals: [{ minute: now - 60_000, reason: 'budget', count: 2 }],
      refusalsSince: now - 600_000,
    };
    const report = assembleStatus(input({ history, live }));
    expect(report.history).toBe(history);
    expect(report.live).toEqual(live);
  });

  it('lists input and output tokens of each scope apart, whatever the token metric', () => {
    const row = {
      scope: 'k/claude-haiku',
      cooldownUntil: null,
      cooldownStartedAt: null,
      probeRequestId: null,
      probeStartedAt: null,
      backoffLevel: 0,
      consecutive429s: 0,
      tokenBudget: 1_000,
      requestBudget: null,
      reportedTokensRemaining: null,
      reportedRequestsRemaining: null,
      inputTokens: 30,
      outputTokens: 12,
      requests: 2,
      refusedCooldown: 0,
      refusedBudget: 0,
      updatedAt: now,
    };
    const [line] = assembleStatus(input({ scopeRows: [row], policy: { ...defaultLimiterPolicy, tokenMetric: 'input' } })).scopes;
    expect(line).toMatchObject({ windowTokens: 30, windowInputTokens: 30, windowOutputTokens: 12 });
  });
});
