import { describe, expect, it } from 'vitest';
import { decideAdmission } from '../../../src/core/admission.js';
import { adoptReport, fitsReported, refilledAt, reportsInForce, type ReportedRemaining } from '../../../src/core/reported.js';
import type { TokenEstimate, UsageBucket } from '../../../src/core/types.js';
import { policyWith, stateWith } from '../../helpers/limiterFixtures.js';

const now = 1_700_000_000_000;
const minute = 60_000;

/** 30 000 tokens a minute, 12 000 left, full again in 36 s: it refills 500 tokens a second. */
const report = (overrides: Partial<ReportedRemaining> = {}): ReportedRemaining => ({
  dimension: 'tokens',
  limit: 30_000,
  remaining: 12_000,
  resetAt: now + 36_000,
  seenAt: now,
  admittedSince: 0,
  refill: 'bucket',
  roundingSlack: 0,
  ...overrides,
});

const need = (tokens: number): TokenEstimate => ({ inputTokens: tokens, outputTokens: 0 });

describe('admission against what the upstream reports is left', () => {
  it('admits what fits in the remaining, keeping (1 − margin) of the limit in hand', () => {
    // 12 000 − 3 % of 30 000 = 11 100.
    expect(fitsReported(report(), 11_100, now, 0.97)).toEqual({ fits: true });
    expect(fitsReported(report(), 11_101, now, 0.97)).toMatchObject({ fits: false });
  });

  it('subtracts what was admitted since the report', () => {
    expect(fitsReported(report({ admittedSince: 5_000 }), 6_100, now, 0.97)).toEqual({ fits: true });
    expect(fitsReported(report({ admittedSince: 5_000 }), 6_101, now, 0.97)).toMatchObject({ fits: false });
  });

  it('adds the continuous refill since the report, up to the limit', () => {
    expect(refilledAt(report(), now + 10_000)).toBe(17_000);
    expect(fitsReported(report(), 16_100, now + 10_000, 0.97)).toEqual({ fits: true });
    expect(refilledAt(report(), now + 36_000)).toBe(30_000);
    expect(refilledAt(report(), now + 10 * minute)).toBe(30_000);
  });

  it("minds Anthropic's rounding to the thousand", () => {
    expect(fitsReported(report({ roundingSlack: 500 }), 10_600, now, 0.97)).toEqual({ fits: true });
    expect(fitsReported(report({ roundingSlack: 500 }), 10_601, now, 0.97)).toMatchObject({ fits: false });
  });

  it('says how long until the refill makes room', () => {
    const refused = fitsReported(report(), 13_100, now, 0.97);
    // 2 000 tokens short at 500 a second.
    expect(refused).toMatchObject({ fits: false, waitMs: 4_000 });
  });

  it('serves a request larger than the whole budget once the limit is otherwise free', () => {
    const full = report({ remaining: 30_000, resetAt: now });
    expect(fitsReported(full, 40_000, now, 0.97)).toEqual({ fits: true });
    expect(fitsReported(report(), 40_000, now, 0.97)).toMatchObject({ fits: false, waitMs: 34_200 });
    expect(fitsReported(report(), 40_000, now + 34_200, 0.97)).toEqual({ fits: true });
  });

  it('follows only fresh reports, and the separate input and output limits over the combined one', () => {
    const stale = report({ seenAt: now - minute - 1 });
    expect(reportsInForce([stale], now, minute)).toEqual([]);
    const split = [
      report(),
      report({ dimension: 'input-tokens' }),
      report({ dimension: 'output-tokens' }),
      report({ dimension: 'requests', limit: 50, remaining: 10 }),
    ];
    expect(reportsInForce(split, now, minute).map((r) => r.dimension)).toEqual(['input-tokens', 'output-tokens', 'requests']);
    expect(reportsInForce([report(), report({ dimension: 'input-tokens' })], now, minute).map((r) => r.dimension)).toEqual([
      'tokens',
      'input-tokens',
    ]);
  });

  it('adopts only a newer report, starting from what is in flight', () => {
    const known = report({ seenAt: now });
    expect(adoptReport(known, { ...report(), remaining: 1 }, now - 1, 0)).toBeNull();
    expect(adoptReport(known, { ...report(), remaining: 1 }, now + 1, 700)).toMatchObject({
      remaining: 1,
      seenAt: now + 1,
      admittedSince: 700,
    });
  });

  it("keeps a reset's distance from the moment it was read, on the store's clock: a host 10 min behind the server neither ends it at once nor doubles it", () => {
    const hostNow = now - 600_000;
    const read = { ...report(), resetAt: hostNow + 20_000 };
    expect(adoptReport(null, read, now, 0, hostNow)).toMatchObject({ seenAt: now, resetAt: now + 20_000 });
    expect(adoptReport(null, { ...report(), resetAt: now + 5_000 }, now, 0)).toMatchObject({ resetAt: now + 5_000 });
  });
});

describe('decideAdmission with reports', () => {
  const policy = policyWith({ windowMs: minute });
  const fullWindow: UsageBucket[] = [{ start: now - 1_000, inputTokens: 29_000, outputTokens: 0, requests: 10 }];

  it('a fresh token report replaces the window token budget: a full bucket is drawn on, as a direct client would', () => {
    const state = stateWith({ tokenBudget: 29_100, reportedTokenLimit: 30_000 });
    // The window already holds a whole budget's worth, but the bucket says it has refilled.
    expect(decideAdmission(state, fullWindow, need(1_000), now, policy, [report({ remaining: 30_000 })])).toMatchObject({ kind: 'admit' });
    expect(decideAdmission(state, [], need(1_000), now, policy, [report()])).toMatchObject({ kind: 'admit' });
  });

  it("a budget the operator configured or capped still holds on top of a token bucket's report", () => {
    const state = stateWith({ tokenBudget: 29_100, reportedTokenLimit: 30_000 });
    const full = [report({ remaining: 30_000 })];
    expect(decideAdmission(state, fullWindow, need(1_000), now, { ...policy, tokenBudget: 29_100 }, full)).toMatchObject({
      kind: 'reject',
      reason: 'budget',
    });
    expect(decideAdmission(state, fullWindow, need(1_000), now, { ...policy, tokenBudgetMax: 29_100 }, full)).toMatchObject({
      kind: 'reject',
      reason: 'budget',
    });
  });

  it('a report of anything but a token bucket is followed on top of the window budget, which still holds', () => {
    const state = stateWith({ tokenBudget: 29_100, reportedTokenLimit: 30_000 });
    // A sliding window refills only as old usage ages out: the linear refill is an upper bound, not a promise.
    expect(decideAdmission(state, fullWindow, need(1_000), now, policy, [report({ remaining: 30_000, refill: 'window' })])).toMatchObject({
      kind: 'reject',
      reason: 'budget',
    });
  });

  it('the window budget still guards a limit no fresh report covers: requests, with only a token report', () => {
    const state = stateWith({ tokenBudget: 29_100, requestBudget: 10, reportedTokenLimit: 30_000 });
    expect(decideAdmission(state, fullWindow, need(1_000), now, policy, [report({ remaining: 30_000 })])).toMatchObject({
      kind: 'reject',
      reason: 'budget',
      message: expect.stringMatching(/request budget/),
    });
  });

  it('a report with too little left refuses even when the local window has room (a second tenant)', () => {
    const state = stateWith({ tokenBudget: 29_100, reportedTokenLimit: 30_000 });
    const decision = decideAdmission(state, [], need(2_000), now, policy, [report({ remaining: 2_000 })]);
    expect(decision).toMatchObject({
      kind: 'reject',
      reason: 'budget',
      message: expect.stringMatching(/upstream reports 2000 tokens left/),
    });
  });

  it('a stale report is not followed: the local window is the guard', () => {
    const staleAndEmpty = report({ seenAt: now - minute - 1, remaining: 0, resetAt: now + minute });
    expect(decideAdmission(stateWith({ tokenBudget: 29_100 }), [], need(1_000), now, policy, [staleAndEmpty])).toMatchObject({
      kind: 'admit',
    });
    expect(decideAdmission(stateWith({ tokenBudget: 29_100 }), fullWindow, need(1_000), now, policy, [staleAndEmpty])).toMatchObject({
      kind: 'reject',
    });
  });

  it('a cooldown refuses at once whatever the report says', () => {
    const cooling = stateWith({ cooldownStartedAt: now - 1_000, cooldownUntil: now + 29_000, consecutive429s: 1, backoffLevel: 1 });
    expect(decideAdmission(cooling, [], need(1), now, policy, [report({ remaining: 30_000 })])).toMatchObject({
      kind: 'reject',
      reason: 'cooldown',
    });
  });

  it('the request limit is followed like the token limit', () => {
    // 50 × 0.97 = 48: two requests of the 50 are held back.
    const requests = report({ dimension: 'requests', limit: 50, remaining: 2, resetAt: now + 1_000 });
    expect(decideAdmission(stateWith(), [], need(1), now, policy, [requests])).toMatchObject({ kind: 'reject', reason: 'budget' });
    expect(decideAdmission(stateWith(), [], need(1), now, policy, [{ ...requests, remaining: 3 }])).toMatchObject({ kind: 'admit' });
  });
});
