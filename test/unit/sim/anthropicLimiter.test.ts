import { describe, expect, it } from 'vitest';
import { AnthropicLimiter, type ClassLimits, type LimiterRules } from '../../../src/sim/anthropicLimiter.js';

const t0 = 1_000_000;
const tier1: ClassLimits = { requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 };
const haiku: ClassLimits = { requestsPerMinute: 50, inputTokensPerMinute: 50_000, outputTokensPerMinute: 10_000 };
const rules: LimiterRules = { windowMs: 60_000, cacheReadsCountTowardItpm: false, oversizedOutput: 'admit-when-full' };

function limiter(overrides: Partial<LimiterRules> = {}): AnthropicLimiter {
  return new AnthropicLimiter((name) => (name === 'haiku' ? haiku : tier1), { ...rules, ...overrides }, t0);
}

describe('the simulated Anthropic limits', () => {
  it('pre-charges max_tokens to OTPM at the start and refunds the unused part at the end', () => {
    const limits = limiter();
    const admission = limits.admit('org-a', 'sonnet', { inputTokens: 1_000, maxTokens: 4_000 }, t0);
    expect(admission).toEqual({ admitted: true, outputCharged: 4_000 });
    expect(limits.report('org-a', 'sonnet', t0)['output-tokens'].remaining).toBe(4_000);
    limits.finish('org-a', 'sonnet', 4_000, 600, t0);
    expect(limits.report('org-a', 'sonnet', t0)['output-tokens'].remaining).toBe(7_400);
    expect(limits.report('org-a', 'sonnet', t0)['input-tokens'].remaining).toBe(29_000);
    expect(limits.report('org-a', 'sonnet', t0).requests.remaining).toBe(49);
  });

  it('refuses a request whose max_tokens does not fit the OTPM bucket while another streams, and says how long until it fits', () => {
    const limits = limiter();
    limits.admit('org-a', 'sonnet', { inputTokens: 100, maxTokens: 6_000 }, t0);
    const refused = limits.admit('org-a', 'sonnet', { inputTokens: 100, maxTokens: 6_000 }, t0);
    expect(refused).toEqual({ admitted: false, limitedBy: ['output-tokens'], retryAfterMs: 30_000 });
    // The first answer ends with 500 tokens: the refund makes room at once.
    limits.finish('org-a', 'sonnet', 6_000, 500, t0 + 1_000);
    expect(limits.admit('org-a', 'sonnet', { inputTokens: 100, maxTokens: 6_000 }, t0 + 1_000).admitted).toBe(true);
  });

  it('admits a max_tokens above the whole OTPM bucket when the bucket is full, charging the bucket (default switch)', () => {
    const limits = limiter();
    expect(limits.admit('org-a', 'sonnet', { inputTokens: 100, maxTokens: 32_000 }, t0)).toEqual({ admitted: true, outputCharged: 8_000 });
    expect(limits.report('org-a', 'sonnet', t0)['output-tokens'].remaining).toBe(0);
    const second = limits.admit('org-a', 'sonnet', { inputTokens: 100, maxTokens: 32_000 }, t0 + 30_000);
    expect(second.admitted).toBe(false);
    limits.finish('org-a', 'sonnet', 8_000, 1_000, t0 + 30_000);
    // Half a minute refilled 4 000, the refund gives back 7 000: capped at the bucket's 8 000.
    expect(limits.admit('org-a', 'sonnet', { inputTokens: 100, maxTokens: 32_000 }, t0 + 30_000).admitted).toBe(true);
  });

  it('refuses such a request always with the `refuse` switch', () => {
    const limits = limiter({ oversizedOutput: 'refuse' });
    const refused = limits.admit('org-a', 'sonnet', { inputTokens: 100, maxTokens: 32_000 }, t0);
    expect(refused.admitted).toBe(false);
    expect(limits.report('org-a', 'sonnet', t0)['output-tokens'].remaining).toBe(8_000);
  });

  it('takes nothing from any bucket when one of them refuses', () => {
    const limits = limiter();
    // An input above the whole ITPM bucket goes when the bucket is full and empties it.
    expect(limits.admit('org-a', 'sonnet', { inputTokens: 31_000, maxTokens: 9_000 }, t0).admitted).toBe(true);
    const next = limits.admit('org-a', 'sonnet', { inputTokens: 500, maxTokens: 100 }, t0);
    // Ordered by the wait: 500 input tokens take 1 s to come back, 100 output tokens 0.75 s.
    expect(next).toMatchObject({ admitted: false, limitedBy: ['input-tokens', 'output-tokens'], retryAfterMs: 1_000 });
    expect(limits.report('org-a', 'sonnet', t0).requests.remaining).toBe(49);
  });

  it('counts input_tokens and cache writes toward ITPM, cache reads only with the switch', () => {
    const usage = { inputTokens: 10, cacheCreationInputTokens: 2_000, cacheReadInputTokens: 30_000 };
    expect(limiter().inputCharge(usage)).toBe(2_010);
    expect(limiter({ cacheReadsCountTowardItpm: true }).inputCharge(usage)).toBe(32_010);
  });

  it('shares the buckets within an organization and model class, not across them', () => {
    const limits = limiter();
    limits.admit('org-a', 'sonnet', { inputTokens: 100, maxTokens: 8_000 }, t0);
    expect(limits.admit('org-a', 'sonnet', { inputTokens: 100, maxTokens: 1_000 }, t0).admitted).toBe(false);
    expect(limits.admit('org-a', 'haiku', { inputTokens: 100, maxTokens: 1_000 }, t0).admitted).toBe(true);
    expect(limits.admit('org-b', 'sonnet', { inputTokens: 100, maxTokens: 1_000 }, t0).admitted).toBe(true);
    expect(limits.report('org-a', 'haiku', t0)['output-tokens'].limit).toBe(10_000);
  });

  it('refills continuously: RPM returns one request every 1.2 s at 50 a minute', () => {
    const limits = limiter();
    for (let index = 0; index < 50; index++)
      expect(limits.admit('org-a', 'sonnet', { inputTokens: 1, maxTokens: 1 }, t0).admitted).toBe(true);
    expect(limits.admit('org-a', 'sonnet', { inputTokens: 1, maxTokens: 1 }, t0)).toMatchObject({
      admitted: false,
      limitedBy: ['requests'],
      retryAfterMs: 1_200,
    });
    expect(limits.admit('org-a', 'sonnet', { inputTokens: 1, maxTokens: 1 }, t0 + 1_200).admitted).toBe(true);
  });
});
