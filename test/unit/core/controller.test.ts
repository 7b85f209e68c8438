import { describe, expect, it } from 'vitest';
import { adoptConfiguredBudgets, adoptReportedLimits } from '../../../src/core/budgetAdoption.js';
import {
  allOpen,
  budgetCeiling,
  considerRaise,
  cutAt429,
  evaluateGates,
  trafficSince,
  unknownBlame,
  type GateReport,
} from '../../../src/core/controller.js';
import { initialLimiterState, type LimiterState, type WindowUsage } from '../../../src/core/types.js';
import { sumWindow } from '../../../src/core/window.js';
import { BucketLedger, policyWith, stateWith } from '../../helpers/limiterFixtures.js';

const now = 1_700_000_000_000;
const hour = 3_600_000;
const policy = policyWith({ tokenBudget: 1_000, tokenBudgetMax: 2_000, safetyMargin: 0.9 });
/** Every gate open: long history, half the budget used, no 429, room to rise, never raised. */
const ready = stateWith({ tokenBudget: 1_000, configuredTokenBudget: 1_000, firstRequestAt: now - 2 * hour });
const busy: WindowUsage = { tokens: 500, requests: 10 };

const closedGates = (gates: GateReport): string[] =>
  Object.entries(gates)
    .filter(([, gate]) => !gate.open)
    .map(([name]) => name);

describe('controller raise', () => {
  it('raises by one step when every gate is open, and records the gates', () => {
    const { state, adjustments } = considerRaise(ready, busy, now, policy);
    expect(state.tokenBudget).toBe(1_050);
    expect(state.lastRaiseAt).toBe(now);
    expect(adjustments).toHaveLength(1);
    expect(adjustments[0]).toMatchObject({ kind: 'tokens', from: 1_000, to: 1_050, reason: 'raise' });
    expect(allOpen(adjustments[0]?.gates as GateReport)).toBe(true);
  });

  const closedAlone: [string, LimiterState, WindowUsage][] = [
    ['history', { ...ready, firstRequestAt: now - hour + 1 }, busy],
    ['consumption', ready, { tokens: 49, requests: 10 }],
    ['quiet', { ...ready, last429At: now - 15 * 60_000 + 1 }, busy],
    ['headroom', { ...ready, tokenBudget: 2_000 }, busy],
    ['pace', { ...ready, lastRaiseAt: now - 60_000 + 1 }, busy],
  ];

  for (const [gate, state, usage] of closedAlone) {
    it(`does not raise when only the ${gate} gate is closed`, () => {
      expect(closedGates(evaluateGates(state, 'tokens', usage, now, policy))).toEqual([gate]);
      const result = considerRaise(state, usage, now, policy);
      expect(result.adjustments).toEqual([]);
      expect(result.state).toBe(state);
    });
  }

  it('opens each gate exactly at its threshold', () => {
    const atThresholds = { ...ready, firstRequestAt: now - hour, last429At: now - 15 * 60_000, lastRaiseAt: now - 60_000 };
    const gates = evaluateGates(atThresholds, 'tokens', { tokens: 50, requests: 1 }, now, policy);
    expect(closedGates(gates)).toEqual([]);
  });

  it('keeps the consumption gate closed with no usage even when the threshold rounds to zero', () => {
    const gates = evaluateGates(
      { ...ready, tokenBudget: 10 },
      'tokens',
      { tokens: 0, requests: 0 },
      now,
      policyWith({ minConsumption: 0 }),
    );
    expect(gates.consumption.open).toBe(false);
  });

  it('never raises without a budget in force', () => {
    const state = { ...ready, tokenBudget: null };
    expect(considerRaise(state, busy, now, policyWith({ tokenBudgetMax: 2_000 })).adjustments).toEqual([]);
  });

  it('stops at the configured maximum', () => {
    const { state } = considerRaise({ ...ready, tokenBudget: 1_990 }, busy, now, policy);
    expect(state.tokenBudget).toBe(2_000);
  });

  it("stops at the upstream's reported limit times the safety margin when that is lower", () => {
    const reported = { ...ready, tokenBudget: 1_300, reportedTokenLimit: 1_500 };
    expect(budgetCeiling(reported, 'tokens', policy)).toBe(1_350);
    expect(considerRaise(reported, busy, now, policy).state.tokenBudget).toBe(1_350);
    const atCeiling = { ...reported, tokenBudget: 1_350 };
    expect(considerRaise(atCeiling, busy, now, policy).adjustments).toEqual([]);
  });

  it('without a maximum or a reported limit, only wins back up to the configured budget', () => {
    const unbounded = policyWith({ tokenBudget: 1_000 });
    let state: LimiterState = { ...ready, tokenBudget: 700 };
    for (let step = 0; step < 50; step++) state = considerRaise(state, busy, now + step * unbounded.windowMs, unbounded).state;
    expect(state.tokenBudget).toBe(1_000);
  });

  it('raises at most one step per window', () => {
    let state = ready;
    let raises = 0;
    for (let second = 0; second < 600; second++) {
      const result = considerRaise(state, busy, now + second * 1_000, policy);
      raises += result.adjustments.length;
      state = result.state;
    }
    expect(raises).toBe(10);
    expect(state.tokenBudget).toBeLessThanOrEqual(2_000);
  });

  it('raises the request budget under its own gates', () => {
    const withRequests = policyWith({ requestBudget: 100, requestBudgetMax: 200 });
    const state = { ...ready, tokenBudget: null, requestBudget: 100 };
    const result = considerRaise(state, { tokens: 0, requests: 50 }, now, withRequests);
    expect(result.adjustments).toEqual([expect.objectContaining({ kind: 'requests', from: 100, to: 105 })]);
    expect(considerRaise(state, { tokens: 0, requests: 4 }, now, withRequests).adjustments).toEqual([]);
  });
});

describe('the seed bug: a fresh start that served one request must not raise', () => {
  const seedPolicy = policyWith({ tokenBudget: 1_000, tokenBudgetMax: 10_000, requestBudget: 50, requestBudgetMax: 500 });

  it('keeps both budgets through three hours of ticks after a single request', () => {
    const ledger = new BucketLedger(seedPolicy.windowMs);
    let state = adoptConfiguredBudgets(initialLimiterState, seedPolicy).state;
    expect(state.tokenBudget).toBe(1_000);
    const start = now;
    // One request, large enough to pass the consumption gate on its own while it is in the window.
    ledger.record(start, 300, 300);
    state = { ...state, firstRequestAt: start };
    for (let at = start; at <= start + 3 * hour; at += 1_000) {
      const usage = sumWindow(ledger.inWindow(at), seedPolicy.tokenMetric);
      const result = considerRaise(state, usage, at, seedPolicy);
      expect(result.adjustments, `tick at +${(at - start) / 1_000} s`).toEqual([]);
      state = result.state;
    }
    expect(state.tokenBudget).toBe(1_000);
    expect(state.requestBudget).toBe(50);
  });

  it('does raise once the evidence is real: an hour of steady traffic', () => {
    const ledger = new BucketLedger(seedPolicy.windowMs);
    let state: LimiterState = { ...adoptConfiguredBudgets(initialLimiterState, seedPolicy).state, firstRequestAt: now };
    let firstRaiseAt: number | null = null;
    for (let at = now; at <= now + hour + 120_000; at += 1_000) {
      ledger.record(at, 5, 5);
      const result = considerRaise(state, sumWindow(ledger.inWindow(at), 'total'), at, seedPolicy);
      if (result.adjustments.length > 0 && firstRaiseAt === null) firstRaiseAt = at;
      state = result.state;
    }
    expect(firstRaiseAt).toBe(now + hour);
    expect(state.tokenBudget).toBeGreaterThan(1_000);
  });
});

describe('the traffic history the history gate measures', () => {
  it('starts at the first request ever', () => {
    expect(trafficSince(null, 0, now)).toBe(now);
  });

  it('continues while every window holds a request', () => {
    expect(trafficSince(now - 2 * hour, 1, now)).toBe(now - 2 * hour);
  });

  it('starts again after a window without a single request, however old the database', () => {
    expect(trafficSince(now - 7 * 24 * hour, 0, now)).toBe(now);
  });

  it('so a proxy back from a long idle gap does not raise on its first request', () => {
    const policy = policyWith({ tokenBudget: 1_000, tokenBudgetMax: 10_000 });
    const weekOld: LimiterState = { ...ready, firstRequestAt: trafficSince(now - 7 * 24 * hour, 0, now) };
    const result = considerRaise(weekOld, { tokens: 600, requests: 1 }, now + 60_000, policy);
    expect(result.adjustments).toEqual([]);
  });
});

describe('controller cut at an upstream 429', () => {
  it('cuts multiplicatively from the usage when it is below the budget', () => {
    const { state, adjustments } = cutAt429(ready, { tokens: 600, requests: 5 }, unknownBlame, policy);
    expect(state.tokenBudget).toBe(420);
    expect(adjustments).toEqual([expect.objectContaining({ kind: 'tokens', from: 1_000, to: 420, reason: 'cut', gates: null })]);
  });

  it('cuts from the budget when the usage is above it', () => {
    expect(cutAt429(ready, { tokens: 1_500, requests: 5 }, unknownBlame, policy).state.tokenBudget).toBe(700);
  });

  it('does not cut at a 429 with nothing in the window', () => {
    const result = cutAt429({ ...ready, requestBudget: 10 }, { tokens: 0, requests: 0 }, unknownBlame, policy);
    expect(result.adjustments).toEqual([]);
    expect(result.state.tokenBudget).toBe(1_000);
    expect(result.state.requestBudget).toBe(10);
  });

  it('cuts each budget only on its own evidence', () => {
    const result = cutAt429({ ...ready, requestBudget: 10 }, { tokens: 0, requests: 4 }, unknownBlame, policy);
    expect(result.state.tokenBudget).toBe(1_000);
    expect(result.state.requestBudget).toBe(2);
  });

  it('learns a first token budget from the usage at the 429', () => {
    const result = cutAt429(initialLimiterState, { tokens: 10_000, requests: 20 }, unknownBlame, policyWith());
    expect(result.state.tokenBudget).toBe(7_000);
    expect(result.state.requestBudget).toBeNull();
    expect(result.adjustments).toEqual([expect.objectContaining({ kind: 'tokens', from: null, to: 7_000, reason: 'learned-at-429' })]);
  });

  it('creates a request budget only when the 429 blames the request limit', () => {
    const result = cutAt429(initialLimiterState, { tokens: 10_000, requests: 20 }, { tokens: 'room', requests: 'exhausted' }, policyWith());
    expect(result.state.requestBudget).toBe(14);
    expect(result.state.tokenBudget).toBeNull();
  });

  it('never cuts below one', () => {
    expect(cutAt429({ ...ready, tokenBudget: 2 }, { tokens: 1, requests: 1 }, unknownBlame, policy).state.tokenBudget).toBe(1);
  });
});

describe('configured and reported budgets', () => {
  it('adopts the configured budget once, and keeps a cut across restarts with the same configuration', () => {
    const adopted = adoptConfiguredBudgets(initialLimiterState, policy);
    expect(adopted.state.tokenBudget).toBe(1_000);
    expect(adopted.adjustments).toEqual([expect.objectContaining({ reason: 'config', from: null, to: 1_000 })]);
    const cut = { ...adopted.state, tokenBudget: 700 };
    const again = adoptConfiguredBudgets(cut, policy);
    expect(again.state.tokenBudget).toBe(700);
    expect(again.adjustments).toEqual([]);
  });

  it('follows a changed configuration', () => {
    const adopted = adoptConfiguredBudgets({ ...ready, tokenBudget: 700 }, policyWith({ tokenBudget: 1_500, tokenBudgetMax: 2_000 }));
    expect(adopted.state.tokenBudget).toBe(1_500);
    expect(adopted.state.configuredTokenBudget).toBe(1_500);
  });

  it("an unconfigured budget follows the upstream's reported limit times the margin", () => {
    const adopted = adoptReportedLimits(initialLimiterState, { tokenLimit: 10_000, requestLimit: 50 }, policyWith({ safetyMargin: 0.9 }));
    expect(adopted.state.tokenBudget).toBe(9_000);
    expect(adopted.state.requestBudget).toBe(45);
    expect(adopted.state.reportedTokenLimit).toBe(10_000);
  });

  it('a configured budget is never left above the reported limit times the margin', () => {
    const adopted = adoptReportedLimits(ready, { tokenLimit: 800, requestLimit: null }, policy);
    expect(adopted.state.tokenBudget).toBe(720);
    expect(adopted.adjustments).toEqual([expect.objectContaining({ reason: 'ceiling', from: 1_000, to: 720 })]);
  });
});
