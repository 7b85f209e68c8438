import type { OutgoingHttpHeaders } from 'node:http';
import type { BucketReport, LimitName, LimitReport } from './anthropicLimiter.js';

/**
 * How `*-remaining` token counts are rounded. Anthropic's documentation says "rounded to the
 * nearest thousand" (`nearest`, the default); `down` never overstates; `none` is exact.
 * Request counts are never rounded.
 */
export type RemainingRounding = 'nearest' | 'down' | 'none';

function rounded(value: number, rounding: RemainingRounding): number {
  if (rounding === 'none') return Math.max(0, Math.floor(value));
  const thousands = rounding === 'nearest' ? Math.round(value / 1000) : Math.floor(value / 1000);
  return Math.max(0, thousands * 1000);
}

/**
 * RFC 3339. Anthropic sends whole seconds; on compressed time a whole second stands for
 * `timeScale` of them, so the resolution shrinks with it (fractions of a second), rounded up so
 * that a reset never arrives early.
 */
export function resetTime(epochMs: number, timeScale: number): string {
  const resolution = 1000 / timeScale;
  const at = Math.ceil(epochMs / resolution) * resolution;
  const text = new Date(Math.ceil(at)).toISOString();
  return timeScale === 1 ? text.replace('.000Z', 'Z') : text;
}

/**
 * `retry-after` in seconds, as Anthropic sends it (whole seconds, rounded up; no
 * `retry-after-ms`); on compressed time in fractions of a second at the scaled resolution.
 */
export function retryAfterSeconds(ms: number, timeScale: number): string {
  const resolution = 1000 / timeScale;
  const seconds = (Math.ceil(Math.max(1, ms) / resolution) * resolution) / 1000;
  return String(Number(seconds.toFixed(3)));
}

const PREFIX: Record<LimitName, string> = {
  requests: 'anthropic-ratelimit-requests',
  'input-tokens': 'anthropic-ratelimit-input-tokens',
  'output-tokens': 'anthropic-ratelimit-output-tokens',
};

export interface HeaderOptions {
  rounding: RemainingRounding;
  timeScale: number;
  now: number;
}

function bucketHeaders(prefix: string, bucket: BucketReport, round: boolean, options: HeaderOptions): OutgoingHttpHeaders {
  return {
    [`${prefix}-limit`]: String(bucket.limit),
    [`${prefix}-remaining`]: String(round ? rounded(bucket.remaining, options.rounding) : Math.max(0, Math.floor(bucket.remaining))),
    [`${prefix}-reset`]: resetTime(options.now + bucket.resetMs, options.timeScale),
  };
}

/**
 * Every rate-limit header of one answer. `anthropic-ratelimit-tokens-*` describes "the most
 * restrictive limit currently in effect": here the token bucket (input or output) with the
 * smaller share left.
 */
export function anthropicLimitHeaders(report: LimitReport, options: HeaderOptions): OutgoingHttpHeaders {
  const input = report['input-tokens'];
  const output = report['output-tokens'];
  const tightest = output.remaining / output.limit < input.remaining / input.limit ? output : input;
  return {
    ...bucketHeaders(PREFIX.requests, report.requests, false, options),
    ...bucketHeaders(PREFIX['input-tokens'], input, true, options),
    ...bucketHeaders(PREFIX['output-tokens'], output, true, options),
    ...bucketHeaders('anthropic-ratelimit-tokens', tightest, true, options),
  };
}
