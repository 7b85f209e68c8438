import type { LimiterPolicy, LimiterState, TokenEstimate, UsageBucket } from './types.js';
import { tokensOf } from './window.js';

/**
 * The daily window, next to the minute: a rolling day of 24 hourly rows per scope, for the
 * upstreams that also limit requests or tokens per day. Coarse on purpose: an hour's row ages
 * out whole, so a refusal names when the oldest hour leaves the day.
 */
export const hourMs = 3_600_000;
export const dayMs = 24 * hourMs;

export function hourStartFor(at: number): number {
  return Math.floor(at / hourMs) * hourMs;
}

/** The oldest hourly row still in the day that ends in the current hour. */
export function oldestHourInDay(now: number): number {
  return hourStartFor(now) - dayMs + hourMs;
}

/** The refusal the daily budgets impose on this request, or null when it fits (or none is set). */
export function dailyRefusal(
  day: UsageBucket,
  estimate: TokenEstimate,
  now: number,
  policy: Pick<LimiterPolicy, 'dailyTokenBudget' | 'dailyRequestBudget' | 'tokenMetric'>,
): { retryAfterMs: number; message: string } | null {
  const retryAfterMs = Math.max(1_000, day.start + dayMs - now);
  if (policy.dailyRequestBudget !== null && day.requests + 1 > policy.dailyRequestBudget) {
    return {
      retryAfterMs,
      message: `the daily request budget of this scope is used up (${day.requests} of ${policy.dailyRequestBudget} in the last 24 h)`,
    };
  }
  const used = tokensOf(day, policy.tokenMetric);
  // Like the window: an empty day admits even a request larger than the whole budget.
  if (policy.dailyTokenBudget !== null && used > 0 && used + tokensOf(estimate, policy.tokenMetric) > policy.dailyTokenBudget) {
    return {
      retryAfterMs,
      message: `the daily token budget of this scope is used up (${used} of ${policy.dailyTokenBudget} ${policy.tokenMetric} tokens in the last 24 h)`,
    };
  }
  return null;
}

/**
 * A scope cooled by a limit it shares (or inherits): cooling until `until` unless it already
 * cools longer; a pending probe is dropped, the ladder stays where it is. Unchanged state is
 * returned as is.
 */
export function coolAlongside(state: LimiterState, until: number, backoffLevel: number, now: number): LimiterState {
  if (state.cooldownUntil !== null && state.cooldownUntil >= until) return state;
  return {
    ...state,
    cooldownStartedAt: state.cooldownUntil !== null && state.cooldownUntil > now ? state.cooldownStartedAt : now,
    cooldownUntil: until,
    backoffLevel: Math.max(state.backoffLevel, backoffLevel),
    probeRequestId: null,
    probeStartedAt: null,
  };
}
