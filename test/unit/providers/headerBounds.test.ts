import { describe, expect, it } from 'vitest';
import { maxHeaderWaitMs } from '../../../src/proxy/providers/headerBounds.js';
import { readReportedLimits } from '../../../src/proxy/providers/rateLimitHeaders.js';
import { refusalHeaders } from '../../../src/proxy/rateLimitFields.js';

const NOW = Date.parse('2026-12-07T12:00:00Z');

describe('header values are clamped to a sane range (issue 26 item 1)', () => {
  it('a 20+-digit or overflowing retry-after / retry-after-ms waits a day at most, never Infinity', () => {
    expect(readReportedLimits('anthropic', { 'retry-after': '9'.repeat(25) }, NOW).retryAfterMs).toBe(maxHeaderWaitMs);
    expect(readReportedLimits('openai', { 'retry-after-ms': '9'.repeat(25) }, NOW).retryAfterMs).toBe(maxHeaderWaitMs);
    // 309 digits of seconds: finite as a number, Infinity once turned into milliseconds.
    expect(readReportedLimits('generic', { 'retry-after': `1${'0'.repeat(307)}` }, NOW).retryAfterMs).toBe(maxHeaderWaitMs);
    expect(readReportedLimits('generic', { 'retry-after': 'Fri, 31 Dec 9999 23:59:59 GMT' }, NOW).retryAfterMs).toBe(maxHeaderWaitMs);
  });

  it('resets in the year 9999 or of 20+ digits are a day away at most; an ordinary one is untouched', () => {
    const anthropic = readReportedLimits(
      'anthropic',
      { 'anthropic-ratelimit-tokens-reset': '9999-12-31T23:59:59Z', 'anthropic-ratelimit-requests-reset': '2026-12-07T12:00:30Z' },
      NOW,
    );
    expect(anthropic.tokenResetMs).toBe(maxHeaderWaitMs);
    expect(anthropic.requestResetMs).toBe(30_000);
    const openai = readReportedLimits(
      'openai',
      { 'x-ratelimit-reset-tokens': '9'.repeat(22), 'x-ratelimit-reset-requests': '9999999999h' },
      NOW,
    );
    expect(openai.tokenResetMs).toBe(maxHeaderWaitMs);
    expect(openai.requestResetMs).toBe(maxHeaderWaitMs);
  });

  it('a local 429 never says more than a day, nor Infinity, whatever it is asked to say', () => {
    for (const retryAfterMs of [Number.POSITIVE_INFINITY, Number.NaN, 8_000 * 365 * maxHeaderWaitMs]) {
      const headers = refusalHeaders({
        reason: 'cooldown',
        retryAfterMs,
        windowMs: 60_000,
        tokenBudget: null,
        requestBudget: null,
        usage: null,
      });
      expect(headers['retry-after']).toBe(String(maxHeaderWaitMs / 1000));
      expect(headers['retry-after-ms']).toBe(String(maxHeaderWaitMs));
    }
  });
});
