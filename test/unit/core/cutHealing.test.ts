import { describe, expect, it } from 'vitest';
import { clearCuts, hasCut, healStaleCuts } from '../../../src/core/cutHealing.js';
import type { ReportedRemaining } from '../../../src/core/reported.js';
import { policyWith, stateWith } from '../../helpers/limiterFixtures.js';

const now = 1_700_000_000_000;
const policy = policyWith();
// Reported 60 000 tokens and 100 requests a minute: known-good 58 200 / 97; a 429 cut both.
const cut = stateWith({
  tokenBudget: 4_000,
  requestBudget: 5,
  reportedTokenLimit: 60_000,
  reportedRequestLimit: 100,
  last429At: now - 40_000,
});
const report = (overrides: Partial<ReportedRemaining>): ReportedRemaining => ({
  dimension: 'tokens',
  limit: 60_000,
  remaining: 30_000,
  resetAt: now + 30_000,
  seenAt: now - 1_000,
  admittedSince: 0,
  roundingSlack: 0,
  refill: 'window',
  ...overrides,
});

describe('a stale cut heals', () => {
  it('to known-good when a fresh report seen after the 429 shows room, with the breaker closed, per limit it covers', () => {
    const healed = healStaleCuts(cut, [report({})], now, policy);
    expect(healed.state).toMatchObject({ tokenBudget: 58_200, requestBudget: 5 });
    expect(healed.adjustments).toEqual([
      expect.objectContaining({ kind: 'tokens', from: 4_000, to: 58_200, reason: 'recover', detail: expect.stringMatching(/cut healed/) }),
    ]);
    const both = healStaleCuts(cut, [report({}), report({ dimension: 'requests', limit: 100, remaining: 60 })], now, policy);
    expect(both.state).toMatchObject({ tokenBudget: 58_200, requestBudget: 97 });
  });

  it('also when the report shows less room than the cut lets through, or ratewarden has sent it since: a busy fleet keeps a bucket low', () => {
    expect(healStaleCuts(cut, [report({ remaining: 1_500, refill: 'bucket' })], now, policy).state.tokenBudget).toBe(58_200);
    expect(
      healStaleCuts(cut, [report({ remaining: 900, admittedSince: 900, seenAt: now, resetAt: now + 60_000 })], now, policy).state
        .tokenBudget,
    ).toBe(58_200);
  });

  const kept: [string, ReportedRemaining[], typeof cut][] = [
    [
      'while the cooldown is in force (no probe has succeeded)',
      [report({})],
      { ...cut, cooldownUntil: now + 1_000, cooldownStartedAt: now - 1_000 },
    ],
    ['from a report seen before the 429', [report({ seenAt: now - 41_000 })], cut],
    ['from a report older than a window', [report({ seenAt: now - 61_000 })], { ...cut, last429At: now - 70_000 }],
    [
      'from a report that shows the limit exhausted (its rounding and what was sent since minded)',
      [report({ remaining: 400, roundingSlack: 500, seenAt: now, resetAt: now + 60_000 })],
      cut,
    ],
    ['from a report of another limit', [report({ dimension: 'requests', limit: 100, remaining: 60 })], { ...cut, requestBudget: 97 }],
  ];
  for (const [name, reports, state] of kept) {
    it(`not ${name}`, () => {
      expect(healStaleCuts(state, reports, now, policy).state.tokenBudget).toBe(4_000);
    });
  }

  it('never moves a budget at or above known-good, nor one with nothing known to return to', () => {
    expect(healStaleCuts({ ...cut, tokenBudget: 58_200 }, [report({})], now, policy).adjustments).toEqual([]);
    expect(
      healStaleCuts({ ...cut, reportedTokenLimit: null }, [report({ limit: null })], now, policy).adjustments.filter(
        (a) => a.kind === 'tokens',
      ),
    ).toEqual([]);
    expect(hasCut({ ...cut, tokenBudget: 58_200, requestBudget: 97 }, policy)).toBe(false);
    expect(hasCut(cut, policy)).toBe(true);
  });
});

describe('reset-cooldown clears cuts', () => {
  it('on every dimension, back to known-good, whatever the reports say', () => {
    const cleared = clearCuts(cut, policy);
    expect(cleared.state).toMatchObject({ tokenBudget: 58_200, requestBudget: 97 });
    expect(cleared.adjustments.map((a) => [a.kind, a.from, a.to])).toEqual([
      ['tokens', 4_000, 58_200],
      ['requests', 5, 97],
    ]);
  });
});
