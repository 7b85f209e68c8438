import { describe, expect, it } from 'vitest';
import { decideAdmission } from '../../../src/core/admission.js';
import { unknownBlame } from '../../../src/core/controller.js';
import {
  afterSettle,
  clearCooldown,
  onUpstream429,
  somethingCleared,
  spentTokens,
  type SettlingRequest,
} from '../../../src/core/settlement.js';
import type { LimiterState, TokenEstimate, WindowUsage } from '../../../src/core/types.js';
import { policyWith, stateWith } from '../../helpers/limiterFixtures.js';

const t0 = 1_700_000_000_000;
const policy = policyWith();
const estimate: TokenEstimate = { inputTokens: 100, outputTokens: 400 };
const someUsage: WindowUsage = { tokens: 600, requests: 3 };

const request = (id: number, admittedAt: number, probe = false): SettlingRequest => ({ id, admittedAt, probe, estimate });

/** A first 429 at t0 + 100 on a request admitted at t0: a 30 s cooldown in force. */
function firstIncident(state: LimiterState = stateWith()): LimiterState {
  return onUpstream429(state, request(1, t0), null, someUsage, unknownBlame, t0 + 100, policy, 0).state;
}

/** Admit the probe the way the warden records it. */
function withProbe(state: LimiterState, id: number, at: number): LimiterState {
  const decision = decideAdmission(state, [], estimate, at, policy);
  expect(decision).toMatchObject({ kind: 'admit', probe: true });
  return { ...state, probeRequestId: id, probeStartedAt: at };
}

describe('what a finished request spent', () => {
  const usage = { inputTokens: 120, outputTokens: 80 };

  it('is the real usage when the upstream answered, else the reservation', () => {
    expect(spentTokens('ok', estimate, usage)).toEqual(usage);
    expect(spentTokens('ok', estimate, null)).toEqual(estimate);
    expect(spentTokens('upstream-error', estimate, null)).toEqual(estimate);
  });

  it('keeps the reservation as spent for a stream cut short with nothing seen', () => {
    expect(spentTokens('aborted', estimate, null)).toEqual(estimate);
    expect(spentTokens('aborted', estimate, usage)).toEqual(usage);
  });

  it('is nothing when the upstream never took the request', () => {
    for (const outcome of ['unreachable', 'timeout', 'upstream-429'] as const) {
      expect(spentTokens(outcome, estimate, usage)).toEqual({ inputTokens: 0, outputTokens: 0 });
    }
  });
});

describe('upstream 429', () => {
  it('starts the first cooldown, counts the 429 and cuts the budget', () => {
    const decision = onUpstream429(stateWith({ tokenBudget: 1_000 }), request(1, t0), null, someUsage, unknownBlame, t0 + 100, policy, 0);
    expect(decision.escalated).toBe(true);
    expect(decision.cooldownMs).toBe(30_000);
    expect(decision.state).toMatchObject({
      consecutive429s: 1,
      backoffLevel: 1,
      cooldownStartedAt: t0 + 100,
      cooldownUntil: t0 + 30_100,
      last429At: t0 + 100,
      tokenBudget: 420,
    });
    expect(decision.adjustments).toEqual([expect.objectContaining({ reason: 'cut', from: 1_000, to: 420 })]);
  });

  it('does not cut the budget again at a probe that meets a 429: the window behind it is almost empty', () => {
    const state = withProbe(firstIncident(stateWith({ tokenBudget: 1_000 })), 2, t0 + 30_100);
    expect(state.tokenBudget).toBe(420);
    const decision = onUpstream429(
      state,
      request(2, t0 + 30_100, true),
      null,
      { tokens: 5, requests: 1 },
      unknownBlame,
      t0 + 30_200,
      policy,
      0,
    );
    expect(decision.escalated).toBe(true);
    expect(decision.adjustments).toEqual([]);
    expect(decision.state.tokenBudget).toBe(420);
  });

  it('climbs the ladder while probes keep meeting 429s', () => {
    let state = firstIncident();
    let at = state.cooldownUntil as number;
    const lengths: number[] = [];
    for (let id = 2; id <= 7; id++) {
      state = withProbe(state, id, at);
      const decision = onUpstream429(state, request(id, at, true), null, someUsage, unknownBlame, at + 10, policy, 0);
      expect(decision.escalated).toBe(true);
      lengths.push(decision.cooldownMs);
      state = decision.state;
      expect(state.probeRequestId).toBeNull();
      at = state.cooldownUntil as number;
    }
    expect(lengths).toEqual([60_000, 120_000, 240_000, 300_000, 300_000, 300_000]);
    expect(state.consecutive429s).toBe(7);
  });

  it("takes the upstream's Retry-After when it is longer than the schedule", () => {
    const decision = onUpstream429(stateWith(), request(1, t0), 90_000, someUsage, unknownBlame, t0 + 100, policy, 0);
    expect(decision.state.cooldownUntil).toBe(t0 + 100 + 90_000);
  });

  it('does not escalate or cut again for a stale 429 of the same incident', () => {
    const state = firstIncident(stateWith({ tokenBudget: 1_000 }));
    expect(state.tokenBudget).toBe(420);
    // Admitted before the cooldown began: it was already on its way when the first 429 came.
    const stale = onUpstream429(state, request(2, t0 + 50), null, { tokens: 300, requests: 2 }, unknownBlame, t0 + 2_000, policy, 0);
    expect(stale.escalated).toBe(false);
    expect(stale.adjustments).toEqual([]);
    expect(stale.state).toMatchObject({
      consecutive429s: 1,
      backoffLevel: 1,
      cooldownUntil: t0 + 30_100,
      tokenBudget: 420,
      last429At: t0 + 2_000,
    });
    expect(stale.cooldownMs).toBe(t0 + 30_100 - (t0 + 2_000));
    expect(stale.sample).toMatchObject({ tokens: 300 });
  });

  it('does not escalate for a 429 that comes while the cooldown runs, on a request the scope admitted under another name (a key before its group was known)', () => {
    const state = firstIncident();
    // Admitted after the cooldown began, but not by this scope: it refused everything since.
    const moved = onUpstream429(state, request(2, t0 + 500), 20_000, someUsage, unknownBlame, t0 + 600, policy, 0);
    expect(moved.escalated).toBe(false);
    expect(moved.adjustments).toEqual([]);
    expect(moved.state).toMatchObject({ consecutive429s: 1, backoffLevel: 1, cooldownUntil: t0 + 30_100 });
    // Once the cooldown is over, a 429 says it was too short: the ladder climbs.
    const after = onUpstream429(state, request(3, t0 + 30_200), null, someUsage, unknownBlame, t0 + 30_300, policy, 0);
    expect(after.escalated).toBe(true);
    expect(after.state.consecutive429s).toBe(2);
  });

  it('lets a stale 429 lengthen the cooldown to its Retry-After, never shorten it', () => {
    const state = firstIncident();
    const longer = onUpstream429(state, request(2, t0 + 50), 60_000, someUsage, unknownBlame, t0 + 2_000, policy, 0);
    expect(longer.state.cooldownUntil).toBe(t0 + 62_000);
    expect(longer.escalated).toBe(false);
    const shorter = onUpstream429(state, request(3, t0 + 50), 1_000, someUsage, unknownBlame, t0 + 2_000, policy, 0);
    expect(shorter.state.cooldownUntil).toBe(t0 + 30_100);
  });
});

describe('settle', () => {
  it('a probe success closes the breaker and resets the consecutive count, so the ladder starts over', () => {
    let state = firstIncident();
    const end = state.cooldownUntil as number;
    state = withProbe(state, 2, end);
    state = onUpstream429(state, request(2, end, true), null, someUsage, unknownBlame, end + 5, policy, 0).state;
    expect(state.consecutive429s).toBe(2);
    const end2 = state.cooldownUntil as number;
    state = withProbe(state, 3, end2);
    state = afterSettle(state, request(3, end2, true), 'ok', 200, t0);
    expect(state).toMatchObject({
      consecutive429s: 0,
      backoffLevel: 0,
      cooldownStartedAt: null,
      cooldownUntil: null,
      probeRequestId: null,
      probeStartedAt: null,
    });
    expect(decideAdmission(state, [], estimate, end2 + 1, policy)).toMatchObject({ kind: 'admit', probe: false });
    const next = onUpstream429(state, request(4, end2 + 10), null, someUsage, unknownBlame, end2 + 20, policy, 0);
    expect(next.cooldownMs).toBe(30_000);
  });

  it('a success with the breaker closed keeps the count at zero', () => {
    const state = stateWith({ firstRequestAt: t0 });
    expect(afterSettle(state, request(1, t0), 'ok', 200, t0)).toMatchObject({ consecutive429s: 0, cooldownUntil: null });
  });

  it('a probe that fails leaves the breaker half-open and lets the next request probe', () => {
    for (const [outcome, status] of [
      ['upstream-error', 500],
      ['unreachable', null],
      ['timeout', null],
      ['ok', 503],
    ] as const) {
      let state = firstIncident();
      const end = state.cooldownUntil as number;
      state = withProbe(state, 2, end);
      state = afterSettle(state, request(2, end, true), outcome, status, t0);
      expect(state).toMatchObject({ consecutive429s: 1, cooldownUntil: end, probeRequestId: null, probeStartedAt: null });
      expect(decideAdmission(state, [], estimate, end + 10, policy)).toMatchObject({ kind: 'admit', probe: true });
    }
  });

  it('a success that left before the cooldown proves nothing: it stays in force', () => {
    const state = firstIncident();
    const settled = afterSettle(state, request(2, t0 + 50), 'ok', 200, t0);
    expect(settled).toBe(state);
    expect(decideAdmission(settled, [], estimate, (state.cooldownUntil as number) - 1, policy).kind).toBe('reject');
  });

  it('a late success from a probe that timed out does not close the breaker of its successor', () => {
    let state = firstIncident();
    const end = state.cooldownUntil as number;
    state = withProbe(state, 2, end);
    state = withProbe(state, 3, end + policy.probeTimeoutMs);
    const late = afterSettle(state, request(2, end, true), 'ok', 200, t0);
    expect(late).toBe(state);
    expect(late.probeRequestId).toBe(3);
  });
});

describe('operator reset', () => {
  it('clears a cooldown in force and reports what it cleared', () => {
    const state = firstIncident();
    const { state: cleared, cleared: report } = clearCooldown(state, t0 + 10_100);
    expect(cleared).toMatchObject({
      consecutive429s: 0,
      backoffLevel: 0,
      cooldownStartedAt: null,
      cooldownUntil: null,
      probeRequestId: null,
    });
    expect(report).toEqual({ cooldownRemainingMs: 20_000, consecutive429s: 1, backoffLevel: 1, probePending: false, halfOpen: false });
    expect(somethingCleared(report)).toBe(true);
    expect(decideAdmission(cleared, [], estimate, t0 + 10_100, policy)).toMatchObject({ kind: 'admit', probe: false });
  });

  it('clears a half-open breaker with its probe', () => {
    const end = firstIncident().cooldownUntil as number;
    const probing = withProbe(firstIncident(), 2, end);
    const { cleared } = clearCooldown(probing, end + 10);
    expect(cleared).toMatchObject({ cooldownRemainingMs: 0, probePending: true, halfOpen: true });
  });

  it('reports nothing cleared when nothing was in force', () => {
    const { state, cleared } = clearCooldown(stateWith({ tokenBudget: 5 }), t0);
    expect(somethingCleared(cleared)).toBe(false);
    expect(state.tokenBudget).toBe(5);
  });
});
