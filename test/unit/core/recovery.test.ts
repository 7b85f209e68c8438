import { describe, expect, it } from 'vitest';
import { adoptReportedLimits } from '../../../src/core/budgetAdoption.js';
import {
  blame429,
  budgetCeiling,
  considerRaise,
  cutAt429,
  knownGood,
  scaledReportedLimit,
  unknownBlame,
} from '../../../src/core/controller.js';
import type { Report } from '../../../src/core/reported.js';
import { onUpstream429 } from '../../../src/core/settlement.js';
import type { LimiterState, WindowUsage } from '../../../src/core/types.js';
import { policyWith, stateWith } from '../../helpers/limiterFixtures.js';

const now = 1_700_000_000_000;
const window = 10_000;
/** A 10 s window under a per-minute limit of 60 000 tokens: known-good is 0.97 × 10 000. */
const policy = policyWith({ windowMs: window, limitPeriodMs: 60_000, safetyMargin: 0.97 });
const started = now - 10 * window;
const busy: WindowUsage = { tokens: 4_000, requests: 8 };

/** After a storm: cut to 2 000, the probe succeeded two windows ago, quiet since, long uptime. */
const cutDown: LimiterState = stateWith({
  tokenBudget: 2_000,
  reportedTokenLimit: 60_000,
  last429At: now - 3 * window,
  lastProbeSuccessAt: now - 2 * window,
  firstRequestAt: now - 20 * window,
});

const tokensAfter = (state: LimiterState, usage: WindowUsage, at: number, processStartedAt: number | null = started): number | null =>
  considerRaise(state, usage, at, policy, processStartedAt).state.tokenBudget;

describe('known-good level', () => {
  it('is the reported limit times the margin, scaled to the configured window', () => {
    expect(scaledReportedLimit(60_000, policy)).toBe(9_700);
    expect(knownGood(cutDown, 'tokens', policy)).toBe(9_700);
    expect(knownGood(cutDown, 'requests', policy)).toBeNull();
  });

  it('is the configured budget when there is one, never above the reported ceiling', () => {
    expect(knownGood(cutDown, 'tokens', { ...policy, tokenBudget: 5_000 })).toBe(5_000);
    expect(knownGood(cutDown, 'tokens', { ...policy, tokenBudget: 50_000 })).toBe(9_700);
  });
});

describe('recovery to known-good after a storm', () => {
  it('climbs back to known-good within three windows of the probe succeeding', () => {
    const probedAt = now;
    let state: LimiterState = { ...cutDown, last429At: probedAt - 100, lastProbeSuccessAt: probedAt };
    const reached: number[] = [];
    for (let at = probedAt; at <= probedAt + 3 * window; at += 1_000) {
      state = considerRaise(state, busy, at, policy, started).state;
      if (state.tokenBudget === 9_700 && reached.length === 0) reached.push(at - probedAt);
    }
    expect(state.tokenBudget).toBe(9_700);
    expect(reached[0]).toBeLessThanOrEqual(3 * window);
  });

  it('is recorded as recovery, not as a raise', () => {
    const { adjustments } = considerRaise(cutDown, busy, now, policy, started);
    expect(adjustments).toEqual([expect.objectContaining({ kind: 'tokens', from: 2_000, to: 9_700, reason: 'recover' })]);
  });

  const blockedAlone: [string, LimiterState, WindowUsage, number | null][] = [
    ['while cooling', { ...cutDown, cooldownStartedAt: now - 1_000, cooldownUntil: now + 29_000 }, busy, started],
    ['within a window of a 429', { ...cutDown, last429At: now - window + 1 }, busy, started],
    ['within a window of the probe', { ...cutDown, lastProbeSuccessAt: now - window + 1 }, busy, started],
    ['on a zero-token window', cutDown, { tokens: 0, requests: 0 }, started],
    ['right after a fresh start', cutDown, busy, now - window + 1],
    ['without a successful probe', { ...cutDown, lastProbeSuccessAt: null }, busy, started],
  ];
  for (const [name, state, usage, processStartedAt] of blockedAlone) {
    it(`does not recover ${name}`, () => {
      expect(tokensAfter(state, usage, now, processStartedAt)).toBe(2_000);
    });
  }

  it('needs traffic in the window, not a share of the budget: a light user gets back what one 429 cut', () => {
    expect(tokensAfter(cutDown, { tokens: 99, requests: 1 }, now)).toBe(tokensAfter(cutDown, busy, now));
  });

  it('goes halfway after one quiet window, the rest after the second', () => {
    const oneWindow = { ...cutDown, last429At: now - window - 100, lastProbeSuccessAt: now - window };
    expect(tokensAfter(oneWindow, busy, now)).toBe(5_850);
  });

  it('never recovers above known-good', () => {
    expect(tokensAfter({ ...cutDown, tokenBudget: 9_700 }, busy, now)).toBe(9_700);
  });
});

describe('raising above known-good', () => {
  const unreported = policyWith({ windowMs: window, tokenBudget: 1_000, tokenBudgetMax: 5_000 });
  const ready = stateWith({ tokenBudget: 1_000, configuredTokenBudget: 1_000, firstRequestAt: now - 7_200_000 });

  it('is possible only without a reported limit, and keeps every seed gate', () => {
    expect(considerRaise(ready, { tokens: 500, requests: 5 }, now, unreported, now - 7_200_000).state.tokenBudget).toBe(1_050);
    expect(
      considerRaise({ ...ready, last429At: now - 60_000 }, { tokens: 500, requests: 5 }, now, unreported, now - 7_200_000).state
        .tokenBudget,
    ).toBe(1_000);
    const reported = { ...ready, reportedTokenLimit: 6_186 };
    // 6 186 × 0.97 × 10 s / 60 s = 1 000: known-good is the ceiling, nothing to raise into.
    expect(budgetCeiling(reported, 'tokens', unreported)).toBe(1_000);
    expect(considerRaise(reported, { tokens: 500, requests: 5 }, now, unreported, now - 7_200_000).adjustments).toEqual([]);
  });

  it('a restarted proxy raises nothing, whatever history the store holds (the seed regression)', () => {
    const restarted = considerRaise(ready, { tokens: 600, requests: 1 }, now, unreported, now - 1_000);
    expect(restarted.adjustments).toEqual([]);
    expect(considerRaise(ready, { tokens: 600, requests: 1 }, now + 3_600_000, unreported, now - 1_000).state.tokenBudget).toBe(1_050);
  });
});

describe('the cut at an upstream 429', () => {
  const tokensOut: Report = {
    dimension: 'tokens',
    limit: 60_000,
    remaining: 0,
    resetAt: now + 5_000,
    roundingSlack: 500,
    refill: 'bucket',
  };
  const tokensRoom: Report = { ...tokensOut, remaining: 40_000 };
  const requestsOut: Report = { dimension: 'requests', limit: 50, remaining: 0, resetAt: now + 1_000, roundingSlack: 0, refill: 'bucket' };
  const requestsRoom: Report = { ...requestsOut, remaining: 30 };
  const estimate = { inputTokens: 300, outputTokens: 300 };
  const both = stateWith({ tokenBudget: 9_700, requestBudget: 40, reportedTokenLimit: 60_000 });

  it('blames the limit the headers show exhausted', () => {
    expect(blame429([tokensOut, requestsRoom], estimate)).toEqual({ tokens: 'exhausted', requests: 'room' });
    expect(blame429([tokensRoom, requestsOut], estimate)).toEqual({ tokens: 'room', requests: 'exhausted' });
    expect(blame429([tokensOut], estimate)).toEqual({ tokens: 'exhausted', requests: 'room' });
    expect(blame429([], estimate)).toEqual(unknownBlame);
    // 800 left, rounded: perhaps only 300, less than the 600 this request needs.
    expect(blame429([{ ...tokensOut, remaining: 800 }, requestsRoom], estimate).tokens).toBe('exhausted');
  });

  it('cuts only the limit the 429 was about', () => {
    const tokensCut = cutAt429(both, busy, blame429([tokensOut, requestsRoom], estimate), policy);
    expect(tokensCut.state).toMatchObject({ tokenBudget: 2_800, requestBudget: 40 });
    const requestsCut = cutAt429(both, busy, blame429([tokensRoom, requestsOut], estimate), policy);
    expect(requestsCut.state).toMatchObject({ tokenBudget: 9_700, requestBudget: 5 });
  });

  it('a 429 whose headers show room on both starts the cooldown but cuts nothing', () => {
    const request = { id: 7, admittedAt: now - 100, probe: false, estimate };
    const decision = onUpstream429(both, request, null, busy, blame429([tokensRoom, requestsRoom], estimate), now, policy, 0);
    expect(decision.escalated).toBe(true);
    expect(decision.state.cooldownUntil).toBe(now + 30_000);
    expect(decision.adjustments).toEqual([]);
    expect(decision.state).toMatchObject({ tokenBudget: 9_700, requestBudget: 40 });
  });

  it('never cuts below one typical request of the window', () => {
    // Two requests of 1 500 tokens each: a cut to 0.7 × 3 000 would be 2 100; from a budget of 1 000, 700 < 1 500.
    const cut = cutAt429(stateWith({ tokenBudget: 1_000 }), { tokens: 3_000, requests: 2 }, unknownBlame, policy);
    expect(cut.state.tokenBudget).toBe(1_500);
    expect(cutAt429(stateWith({ requestBudget: 1 }), { tokens: 10, requests: 1 }, unknownBlame, policy).state.requestBudget).toBe(1);
  });

  it('never cuts from an empty window', () => {
    expect(cutAt429(both, { tokens: 0, requests: 0 }, unknownBlame, policy).adjustments).toEqual([]);
  });

  it('never sets a budget above the reported ceiling, not even one learned at a 429', () => {
    // The window held 12 000 at the 429; the ceiling is 9 700.
    const learned = cutAt429(stateWith({ reportedTokenLimit: 60_000 }), { tokens: 12_000, requests: 4 }, unknownBlame, {
      ...policy,
      cutFactor: 0.9,
    });
    expect(learned.state.tokenBudget).toBe(9_700);
  });
});

describe('the reported ceiling on every path', () => {
  it('adopting a report never leaves a budget above it', () => {
    const adopted = adoptReportedLimits(
      stateWith({ tokenBudget: 60_000, reportedTokenLimit: 60_000 }),
      { tokenLimit: 60_000, requestLimit: null },
      policy,
    );
    expect(adopted.state.tokenBudget).toBe(9_700);
  });

  it('a budget standing at known-good follows a changed limit', () => {
    const adopted = adoptReportedLimits(
      stateWith({ tokenBudget: 9_700, reportedTokenLimit: 60_000 }),
      { tokenLimit: 120_000, requestLimit: null },
      policy,
    );
    expect(adopted.state.tokenBudget).toBe(19_400);
  });

  it('recovery and raise stop at it', () => {
    for (let step = 0; step < 7; step++) {
      const state = considerRaise({ ...cutDown, tokenBudget: 9_000 + step * 100 }, busy, now, policy, started).state;
      expect(state.tokenBudget).toBeLessThanOrEqual(9_700);
    }
  });
});
