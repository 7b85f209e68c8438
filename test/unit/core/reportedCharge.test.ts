import { describe, expect, it } from 'vitest';
import { decideAdmission } from '../../../src/core/admission.js';
import { chargeFor, chargeRules, reportedCharge } from '../../../src/core/chargeRules.js';
import { adoptReport, fitsReported, needOn, type Report, type ReportedRemaining } from '../../../src/core/reported.js';
import { policyWith, stateWith } from '../../helpers/limiterFixtures.js';

const now = 1_700_000_000_000;
const margin = 0.97;
const stream = chargeFor(chargeRules.anthropic, { inputTokens: 2_000, outputCap: 32_000, learnedOutput: 900 });
const streamCharge = reportedCharge(stream.window, stream.reportedOutput);

/** Anthropic's OTPM bucket of 80 000 as the head of a stream that it pre-charged 32 000 reports it. */
const otpmAtHead: Report = {
  dimension: 'output-tokens',
  limit: 80_000,
  remaining: 48_000,
  resetAt: now + 24_000,
  roundingSlack: 500,
  refill: 'bucket',
};

/** What the warden does to a report's count of what was sent since (addAdmitted, correctAdmitted). */
const plus = (report: ReportedRemaining, delta: number): ReportedRemaining => ({ ...report, admittedSince: report.admittedSince + delta });

describe('the OTPM bucket charged as Anthropic charges it', () => {
  it('two streams with max_tokens 32 000 both fit an 80 000 bucket; a third waits until one ends and its unused output comes back', () => {
    // Adopted at A's head: A is in the report already (the upstream charged it), so nothing is counted twice.
    const afterA = adoptReport(null, otpmAtHead, now, 0) as ReportedRemaining;
    expect(fitsReported(afterA, needOn('output-tokens', streamCharge), now, margin)).toEqual({ fits: true });
    const afterB = plus(afterA, 32_000);
    const third = fitsReported(afterB, needOn('output-tokens', streamCharge), now, margin);
    expect(third.fits).toBe(false);
    // A ends having written 600 tokens: the upstream gives back 31 400 at once, and so does the count.
    const refunded = plus(afterB, 600 - 32_000);
    expect(fitsReported(refunded, needOn('output-tokens', streamCharge), now, margin)).toEqual({ fits: true });
  });

  it('a refund larger than what was sent since never makes the bucket hold more than its limit', () => {
    const report = plus(adoptReport(null, { ...otpmAtHead, remaining: 70_000 }, now, 0) as ReportedRemaining, -40_000);
    expect(fitsReported(report, 77_000, now, margin)).toEqual({ fits: true });
    // 80 000 − 2 400 held back − 500 of rounding: 77 100 at most, never 110 000 less those.
    expect(fitsReported(report, 77_100, now, margin)).toEqual({ fits: true });
    expect(fitsReported(report, 77_101, now, margin).fits).toBe(false);
    expect(fitsReported(plus(report, 40_000 + 10_000), 77_100, now, margin).fits).toBe(false);
  });

  it('admission charges the reported output bucket max_tokens while the local window reserves the learned output', () => {
    const policy = policyWith();
    const report = adoptReport(null, otpmAtHead, now, 0) as ReportedRemaining;
    const full = plus(report, 32_000);
    expect(decideAdmission(stateWith(), [], stream.window, now, policy, [full], streamCharge)).toMatchObject({
      kind: 'reject',
      reason: 'budget',
    });
    // The same request judged on its learned output would slip through and meet the upstream's 429.
    expect(decideAdmission(stateWith(), [], stream.window, now, policy, [full], stream.window)).toMatchObject({ kind: 'admit' });
    // With no report, the window budget counts the learned output: both fit a 10 000-token window.
    expect(
      decideAdmission(
        stateWith({ tokenBudget: 10_000 }),
        [{ start: now, inputTokens: 2_000, outputTokens: 900, requests: 1 }],
        stream.window,
        now,
        policy,
        [],
        streamCharge,
      ),
    ).toMatchObject({ kind: 'admit' });
  });

  it('ITPM holds the input the upstream counts: a mostly cached context fits where its whole size would not', () => {
    const itpm = adoptReport(
      null,
      { dimension: 'input-tokens', limit: 30_000, remaining: 26_000, resetAt: now + 8_000, roundingSlack: 500, refill: 'bucket' },
      now,
      0,
    ) as ReportedRemaining;
    const cached = chargeFor(chargeRules.anthropic, { inputTokens: 3_000, outputCap: 32_000, learnedOutput: 900 });
    const whole = chargeFor(chargeRules.anthropic, { inputTokens: 30_000, outputCap: 32_000, learnedOutput: 900 });
    expect(fitsReported(itpm, needOn('input-tokens', reportedCharge(cached.window, cached.reportedOutput)), now, margin)).toEqual({
      fits: true,
    });
    expect(
      fitsReported(plus(itpm, 20_000), needOn('input-tokens', reportedCharge(whole.window, whole.reportedOutput)), now, margin).fits,
    ).toBe(false);
  });
});

describe('a report is as old as the head that carried it', () => {
  it('is stamped with the head time, and one read earlier never replaces a newer one', () => {
    const newer = adoptReport(null, otpmAtHead, now, 0) as ReportedRemaining;
    expect(adoptReport(newer, { ...otpmAtHead, remaining: 10_000 }, now - 5_000, 0)).toBeNull();
    // The reset keeps its distance from the moment the head was read (on this host's clock, 7 ms off the store's).
    const hostRead = now + 1_007;
    expect(adoptReport(newer, { ...otpmAtHead, resetAt: hostRead + 24_000 }, now + 1_000, 0, hostRead)).toMatchObject({
      seenAt: now + 1_000,
      resetAt: now + 25_000,
    });
  });
});
