import type { ReportedLimits } from './types.js';

/**
 * The longest wait any header is believed to announce: one day. A `retry-after` of 20 digits, a
 * reset in the year 9999 or a `retry-after-ms` that overflows to Infinity is a broken or hostile
 * upstream, not a plan: taken at its word it would cool a scope for millennia, overflow the
 * store's 64-bit columns (PostgreSQL refuses the row, and the 429 with it) and answer clients
 * `retry-after: Infinity`. One day still covers every real limit (the longest windows providers
 * document are daily), and a wait that long is longer than any backoff ladder.
 */
export const maxHeaderWaitMs = 86_400_000;

/** Counts (limits, remaining) past this are not believed either: no provider's limit is near it, and sums of them stay exact. */
export const maxHeaderCount = 1_000_000_000_000;

const waitFields = ['tokenResetMs', 'inputTokenResetMs', 'outputTokenResetMs', 'requestResetMs', 'retryAfterMs'] as const;
const countFields = [
  'tokenLimit',
  'tokenRemaining',
  'inputTokenLimit',
  'inputTokenRemaining',
  'outputTokenLimit',
  'outputTokenRemaining',
  'requestLimit',
  'requestRemaining',
] as const;

/** A wait in milliseconds, whole and within [0, maxHeaderWaitMs]; what is not a number becomes the longest wait. */
export function boundedWaitMs(ms: number): number {
  if (Number.isNaN(ms)) return maxHeaderWaitMs;
  return Math.min(maxHeaderWaitMs, Math.max(0, Math.ceil(ms)));
}

/** Every value the headers gave, clamped into its range; absent stays absent. */
export function boundedLimits(limits: ReportedLimits): ReportedLimits {
  const bounded: ReportedLimits = { ...limits };
  for (const field of waitFields) {
    const value = bounded[field];
    if (value !== undefined) bounded[field] = boundedWaitMs(value);
  }
  for (const field of countFields) {
    const value = bounded[field];
    if (value !== undefined) bounded[field] = Math.min(maxHeaderCount, Math.max(0, value));
  }
  return bounded;
}
