import { describe, expect, it } from 'vitest';
import { readReportedLimits } from '../../../src/proxy/providers/rateLimitHeaders.js';
import { reportsFrom } from '../../../src/proxy/reportedLimits.js';

const NOW = Date.parse('2025-06-01T12:00:00Z');

describe('reportsFrom: what each limit has left, to admit against', () => {
  it('reads all four Anthropic limits, minding the rounding of token counts to the thousand', () => {
    const headers = {
      'anthropic-ratelimit-requests-limit': '50',
      'anthropic-ratelimit-requests-remaining': '49',
      'anthropic-ratelimit-requests-reset': '2025-06-01T12:00:01Z',
      'anthropic-ratelimit-tokens-limit': '90000',
      'anthropic-ratelimit-tokens-remaining': '14000',
      'anthropic-ratelimit-tokens-reset': '2025-06-01T12:00:30Z',
      'anthropic-ratelimit-input-tokens-limit': '80000',
      'anthropic-ratelimit-input-tokens-remaining': '79000',
      'anthropic-ratelimit-input-tokens-reset': '2025-06-01T12:00:01Z',
      'anthropic-ratelimit-output-tokens-limit': '16000',
      'anthropic-ratelimit-output-tokens-remaining': '14000',
      'anthropic-ratelimit-output-tokens-reset': '2025-06-01T12:00:08Z',
    };
    expect(reportsFrom('anthropic', readReportedLimits('anthropic', headers, NOW), NOW)).toEqual([
      { dimension: 'tokens', limit: 90_000, remaining: 14_000, resetAt: NOW + 30_000, roundingSlack: 500, refill: 'bucket' },
      { dimension: 'input-tokens', limit: 80_000, remaining: 79_000, resetAt: NOW + 1_000, roundingSlack: 500, refill: 'bucket' },
      { dimension: 'output-tokens', limit: 16_000, remaining: 14_000, resetAt: NOW + 8_000, roundingSlack: 500, refill: 'bucket' },
      { dimension: 'requests', limit: 50, remaining: 49, resetAt: NOW + 1_000, roundingSlack: 0, refill: 'bucket' },
    ]);
  });

  it("reads OpenAI's limits with their Go-duration resets", () => {
    const headers = {
      'x-ratelimit-limit-requests': '5000',
      'x-ratelimit-remaining-requests': '4999',
      'x-ratelimit-reset-requests': '12ms',
      'x-ratelimit-limit-tokens': '40000',
      'x-ratelimit-remaining-tokens': '18000',
      'x-ratelimit-reset-tokens': '6m0s',
    };
    expect(reportsFrom('openai', readReportedLimits('openai', headers, NOW), NOW)).toEqual([
      { dimension: 'tokens', limit: 40_000, remaining: 18_000, resetAt: NOW + 360_000, roundingSlack: 0, refill: 'window' },
      { dimension: 'requests', limit: 5_000, remaining: 4_999, resetAt: NOW + 12, roundingSlack: 0, refill: 'window' },
    ]);
  });

  it('skips a limit whose remaining or reset is missing: its refill cannot be timed', () => {
    const headers = { 'x-ratelimit-limit-tokens': '40000', 'x-ratelimit-remaining-tokens': '18000' };
    expect(reportsFrom('openai', readReportedLimits('openai', headers, NOW), NOW)).toEqual([]);
    expect(reportsFrom('generic', readReportedLimits('generic', headers, NOW), NOW)).toEqual([]);
  });
});
