import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parseGoDuration } from '../../../src/proxy/providers/headerValues.js';
import { readReportedLimits } from '../../../src/proxy/providers/rateLimitHeaders.js';

const NOW = Date.parse('2025-06-01T12:00:00Z');

describe('readReportedLimits for Anthropic', () => {
  it('reads every anthropic-ratelimit family and turns RFC 3339 resets into ms from now', () => {
    const limits = readReportedLimits(
      'anthropic',
      {
        'anthropic-ratelimit-requests-limit': '50',
        'anthropic-ratelimit-requests-remaining': '49',
        'anthropic-ratelimit-requests-reset': '2025-06-01T12:00:01Z',
        'anthropic-ratelimit-tokens-limit': '90000',
        'anthropic-ratelimit-tokens-remaining': '89000',
        'anthropic-ratelimit-tokens-reset': '2025-06-01T12:00:30.500Z',
        'anthropic-ratelimit-input-tokens-limit': '80000',
        'anthropic-ratelimit-output-tokens-limit': '16000',
      },
      NOW,
    );
    expect(limits).toEqual({
      requestLimit: 50,
      requestRemaining: 49,
      requestResetMs: 1000,
      tokenLimit: 90000,
      tokenRemaining: 89000,
      tokenResetMs: 30_500,
      inputTokenLimit: 80000,
      outputTokenLimit: 16000,
    });
  });

  it('accepts a numeric offset and clamps a reset in the past to zero', () => {
    const limits = readReportedLimits(
      'anthropic',
      {
        'anthropic-ratelimit-tokens-reset': '2025-06-01T14:00:10+02:00',
        'anthropic-ratelimit-requests-reset': '2025-06-01T11:59:00Z',
      },
      NOW,
    );
    expect(limits).toEqual({ tokenResetMs: 10_000, requestResetMs: 0 });
  });

  it('ignores garbage values and the other provider headers', () => {
    const limits = readReportedLimits(
      'anthropic',
      {
        'anthropic-ratelimit-tokens-limit': '-1',
        'anthropic-ratelimit-tokens-remaining': 'lots',
        'anthropic-ratelimit-tokens-reset': 'tomorrow',
        'anthropic-ratelimit-requests-limit': '12.5',
        'anthropic-ratelimit-requests-reset': '1717243200',
        'x-ratelimit-limit-tokens': '100',
      },
      NOW,
    );
    expect(limits).toEqual({});
  });
});

describe('readReportedLimits for OpenAI', () => {
  it('reads the x-ratelimit headers with Go durations', () => {
    const limits = readReportedLimits(
      'openai',
      {
        'x-ratelimit-limit-requests': '5000',
        'x-ratelimit-remaining-requests': '4999',
        'x-ratelimit-reset-requests': '12ms',
        'x-ratelimit-limit-tokens': '160000',
        'x-ratelimit-remaining-tokens': '159976',
        'x-ratelimit-reset-tokens': '6m0s',
      },
      NOW,
    );
    expect(limits).toEqual({
      requestLimit: 5000,
      requestRemaining: 4999,
      requestResetMs: 12,
      tokenLimit: 160000,
      tokenRemaining: 159976,
      tokenResetMs: 360_000,
    });
  });

  it('accepts plain seconds for resets and ignores negative sentinels', () => {
    const limits = readReportedLimits(
      'openai',
      { 'x-ratelimit-reset-tokens': '7', 'x-ratelimit-limit-tokens': '-1', 'x-ratelimit-remaining-tokens': '-1' },
      NOW,
    );
    expect(limits).toEqual({ tokenResetMs: 7000 });
  });
});

describe('parseGoDuration', () => {
  it.each([
    ['1s', 1000],
    ['20ms', 20],
    ['6m0s', 360_000],
    ['1h2m3.5s', 3_723_500],
    ['0s', 0],
    ['0', 0],
    ['1.5s', 1500],
    ['500us', 0.5],
    ['250µs', 0.25],
    ['2h', 7_200_000],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseGoDuration(text)).toBe(ms);
  });

  it.each(['', 's', '5', '-1s', '1x', '1s garbage', '1 s', 'm5s', '1.s'])('rejects %j', (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
  });
});

describe('Retry-After', () => {
  it('prefers retry-after-ms over retry-after', () => {
    expect(readReportedLimits('openai', { 'retry-after-ms': '1500.2', 'retry-after': '9' }, NOW)).toEqual({ retryAfterMs: 1501 });
  });

  it('reads whole and fractional seconds', () => {
    expect(readReportedLimits('generic', { 'retry-after': '30' }, NOW)).toEqual({ retryAfterMs: 30_000 });
    expect(readReportedLimits('generic', { 'retry-after': '0.25' }, NOW)).toEqual({ retryAfterMs: 250 });
    expect(readReportedLimits('generic', { 'retry-after': ' 0 ' }, NOW)).toEqual({ retryAfterMs: 0 });
  });

  it('reads an HTTP date relative to now, in all three RFC 9110 forms', () => {
    expect(readReportedLimits('anthropic', { 'retry-after': 'Sun, 01 Jun 2025 12:00:45 GMT' }, NOW)).toEqual({ retryAfterMs: 45_000 });
    expect(readReportedLimits('generic', { 'retry-after': 'Sunday, 01-Jun-25 12:00:45 GMT' }, NOW).retryAfterMs).toBe(45_000);
    expect(readReportedLimits('generic', { 'retry-after': 'Sun Jun  1 12:00:45 2025' }, NOW).retryAfterMs).toBe(45_000);
    expect(readReportedLimits('generic', { 'retry-after': 'Sun, 01 Jun 2025 11:00:00 GMT' }, NOW)).toEqual({ retryAfterMs: 0 });
  });

  it('falls back to retry-after when retry-after-ms is garbage, and ignores garbage everywhere', () => {
    expect(readReportedLimits('generic', { 'retry-after-ms': 'soon', 'retry-after': '2' }, NOW)).toEqual({ retryAfterMs: 2000 });
    expect(readReportedLimits('generic', { 'retry-after': '5', 'retry-after-ms': '-5' }, NOW)).toEqual({ retryAfterMs: 5000 });
    expect(readReportedLimits('generic', { 'retry-after': 'later' }, NOW)).toEqual({});
    expect(readReportedLimits('generic', { 'retry-after': '2025' }, NOW)).toEqual({ retryAfterMs: 2_025_000 });
    expect(readReportedLimits('generic', { 'retry-after': '-3' }, NOW)).toEqual({});
  });

  it('uses the first value of a repeated header', () => {
    const headers: IncomingHttpHeaders = { 'retry-after': '3', 'x-ratelimit-limit-tokens': ['500', '900'] };
    expect(readReportedLimits('openai', headers, NOW)).toEqual({ retryAfterMs: 3000, tokenLimit: 500 });
  });
});
