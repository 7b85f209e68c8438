import { backoffJitterMs, ladderRungMs } from './backoff.js';
import { fitsReported, needOn, type Report } from './reported.js';
import type { LimiterPolicy, LimiterState, TokenEstimate } from './types.js';

/**
 * When a 429 says the refused request may come back, in ms from `readAt`, or null when it
 * says nothing. Its `retry-after-ms` / `retry-after` (read into `retryAfterMs`) is the
 * upstream's own word and wins; without one, the reports it carries tell it: for each limit
 * that could not hold the request, the time until its refill does (at its reset when the
 * report gives no rate); the longest of them. Reports that all show room say nothing about
 * when (the limit hit is one they do not describe).
 */
export function announcedWaitMs(
  retryAfterMs: number | null,
  reports: readonly Report[],
  estimate: TokenEstimate,
  readAt: number,
): number | null {
  if (retryAfterMs !== null) return Math.max(0, retryAfterMs);
  let longest: number | null = null;
  for (const report of reports) {
    // The request's own need against the whole remaining: margin 1 and nothing sent since.
    const fit = fitsReported({ ...report, seenAt: readAt, admittedSince: 0 }, needOn(report.dimension, estimate), readAt, 1);
    if (!fit.fits) longest = Math.max(longest ?? 0, fit.waitMs);
  }
  return longest;
}

/**
 * The smallest wait a refused probe escalates to. An announcement of 0 ("retry now") that
 * proved wrong has nothing to double from: it then doubles from one second, the granularity of
 * `retry-after`, or from the ladder's base when that is shorter (durations scaled down).
 */
function escalationFloorMs(policy: Pick<LimiterPolicy, 'backoffBaseMs'>): number {
  return Math.min(1_000, policy.backoffBaseMs);
}

/**
 * How long the cooldown a 429 starts lasts.
 * - The first 429 of a streak (`consecutive429s` 0): exactly what the upstream announced
 *   (`announcedMs`); when it announced nothing, the ladder's first rung (`--backoff-base`).
 * - Every later one (a probe the upstream refused again, the announcement proved wrong):
 *   twice the cooldown before it (so the doubling starts from what the upstream announced),
 *   up to `--backoff-max`; a longer announcement always wins.
 * Jitter lengthens only the ladder's own waits, never the upstream's exact word. The cooldown
 * before is read from the durable state, so a restart inside a cooldown changes nothing.
 */
export function cooldownAfter429(
  state: Pick<LimiterState, 'consecutive429s' | 'cooldownStartedAt' | 'cooldownUntil'>,
  announcedMs: number | null,
  policy: Pick<LimiterPolicy, 'backoffBaseMs' | 'backoffMaxMs' | 'backoffJitter'>,
  random: number,
): number {
  if (state.consecutive429s <= 0) {
    if (announcedMs !== null) return announcedMs;
    const rung = ladderRungMs(1, policy);
    return rung + backoffJitterMs(rung, policy, random);
  }
  const previous =
    state.cooldownStartedAt !== null && state.cooldownUntil !== null && state.cooldownUntil >= state.cooldownStartedAt
      ? state.cooldownUntil - state.cooldownStartedAt
      : ladderRungMs(state.consecutive429s, policy);
  const doubled = Math.min(policy.backoffMaxMs, Math.max(2 * previous, escalationFloorMs(policy)));
  return Math.max(doubled + backoffJitterMs(doubled, policy, random), announcedMs ?? 0);
}
