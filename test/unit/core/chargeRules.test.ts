import { describe, expect, it } from 'vitest';
import { chargedUsage, chargeFor, chargeRules, reportedCharge, settledCharge } from '../../../src/core/chargeRules.js';
import { needOn } from '../../../src/core/reported.js';

describe('the charge rule table', () => {
  it('Anthropic: RPM one per request; ITPM input + cache writes, never cache reads; OTPM max_tokens at admission, refunded to the real output', () => {
    const rule = chargeRules.anthropic;
    const charge = chargeFor(rule, { inputTokens: 2_000, outputCap: 32_000, learnedOutput: 900 });
    const reported = reportedCharge(charge.window, charge.reportedOutput);
    expect(needOn('requests', reported)).toBe(1);
    expect(needOn('input-tokens', reported)).toBe(2_000);
    expect(needOn('output-tokens', reported)).toBe(32_000);
    expect(needOn('tokens', reported)).toBe(34_000);
    // The local window, for limits no report covers, keeps the learned output.
    expect(charge.window).toEqual({ inputTokens: 2_000, outputTokens: 900 });

    const usage = { inputTokens: 31_000, outputTokens: 700, cacheReadInputTokens: 29_000, cacheCreationInputTokens: 1_500 };
    expect(chargedUsage(rule, usage)).toEqual({ inputTokens: 2_000, outputTokens: 700 });
    expect(settledCharge(rule.settle, reported, { inputTokens: 2_000, outputTokens: 700 })).toEqual({
      inputTokens: 2_000,
      outputTokens: 700,
    });
  });

  it('OpenAI: the tokens limit counts the prompt plus max_tokens, cached prompt tokens included, and nothing is given back at the end', () => {
    const rule = chargeRules.openai;
    const charge = chargeFor(rule, { inputTokens: 1_000, outputCap: 4_000, learnedOutput: 300 });
    const reported = reportedCharge(charge.window, charge.reportedOutput);
    expect(needOn('tokens', reported)).toBe(5_000);
    expect(needOn('requests', reported)).toBe(1);
    expect(chargedUsage(rule, { inputTokens: 1_000, outputTokens: 250, cacheReadInputTokens: 800 })).toEqual({
      inputTokens: 1_000,
      outputTokens: 250,
    });
    expect(settledCharge(rule.settle, reported, { inputTokens: 900, outputTokens: 250 })).toEqual({
      inputTokens: 1_000,
      outputTokens: 4_000,
    });
    // More than charged is counted as used.
    expect(settledCharge(rule.settle, reported, { inputTokens: 1_200, outputTokens: 250 })).toEqual({
      inputTokens: 1_200,
      outputTokens: 4_000,
    });
  });

  it('any other API: the learned estimate on every limit, corrected to what was used', () => {
    const rule = chargeRules.generic;
    const charge = chargeFor(rule, { inputTokens: 50, outputCap: 8_000, learnedOutput: 120 });
    expect(reportedCharge(charge.window, charge.reportedOutput)).toEqual({ inputTokens: 50, outputTokens: 120 });
    expect(settledCharge(rule.settle, { inputTokens: 50, outputTokens: 120 }, { inputTokens: 40, outputTokens: 10 })).toEqual({
      inputTokens: 40,
      outputTokens: 10,
    });
  });

  it('names the documents a reader checks each rule against', () => {
    expect(chargeRules.anthropic.docs[0]).toMatch(/^https:\/\/docs\.anthropic\.com\//);
    expect(chargeRules.openai.docs[0]).toMatch(/^https:\/\/platform\.openai\.com\//);
  });

  it('without a separate output charge, the reported limits are charged the window estimate', () => {
    expect(reportedCharge({ inputTokens: 10, outputTokens: 20 }, undefined)).toEqual({ inputTokens: 10, outputTokens: 20 });
  });
});
