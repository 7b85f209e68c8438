import { cooldownPhase } from './cooldown.js';
import type { LimiterPolicy, LimiterState, TokenEstimate, UsageBucket } from './types.js';
import { bucketWidthFor, msUntilRoom, sumWindow, tokensOf } from './window.js';

/** How long a client is told to wait while a half-open probe is testing the upstream. */
export const probeRetryMs = 1_000;

export type RejectReason = 'cooldown' | 'budget';

export type AdmissionDecision =
  | { kind: 'admit'; probe: boolean; reservedTokens: number }
  | {
      kind: 'reject';
      reason: RejectReason;
      retryAfterMs: number;
      /** A sentence for the client and the log. */
      message: string;
    };

/**
 * Decide one request. `buckets` are those overlapping the window at `now`; `estimate` is the
 * request's reservation. Budgets come from the durable state (the controller moves them).
 */
export function decideAdmission(
  state: LimiterState,
  buckets: readonly UsageBucket[],
  estimate: TokenEstimate,
  now: number,
  policy: LimiterPolicy,
): AdmissionDecision {
  const breaker = cooldownPhase(state, now, policy);
  if (breaker.phase === 'cooling') {
    return {
      kind: 'reject',
      reason: 'cooldown',
      retryAfterMs: breaker.remainingMs,
      message: `upstream answered 429; cooling down for ${Math.ceil(breaker.remainingMs / 1000)} s more (backoff level ${state.backoffLevel})`,
    };
  }
  if (breaker.phase === 'half-open' && breaker.probeInFlight) {
    return {
      kind: 'reject',
      reason: 'cooldown',
      retryAfterMs: probeRetryMs,
      message: 'cooldown ended; a single probe request is testing the upstream before traffic resumes',
    };
  }

  const reservedTokens = tokensOf(estimate, policy.tokenMetric);
  const usage = sumWindow(buckets, policy.tokenMetric);
  const widthMs = bucketWidthFor(policy.windowMs);
  // A window with nothing in it admits even a request larger than the whole budget: refusing
  // it would starve it forever, and its reservation is replaced by real usage at settle.
  if (state.tokenBudget !== null && usage.tokens > 0 && usage.tokens + reservedTokens > state.tokenBudget) {
    const wait =
      msUntilRoom(buckets, (b) => tokensOf(b, policy.tokenMetric), reservedTokens, state.tokenBudget, now, policy.windowMs, widthMs) ??
      msUntilRoom(buckets, (b) => tokensOf(b, policy.tokenMetric), 0, 0, now, policy.windowMs, widthMs) ??
      policy.windowMs;
    return {
      kind: 'reject',
      reason: 'budget',
      retryAfterMs: wait,
      message: `token budget: ${usage.tokens} used + ${reservedTokens} requested > ${state.tokenBudget} per ${policy.windowMs / 1000} s window`,
    };
  }
  if (state.requestBudget !== null && usage.requests + 1 > state.requestBudget) {
    const wait =
      msUntilRoom(buckets, (b) => b.requests, 1, state.requestBudget, now, policy.windowMs, widthMs) ?? policy.windowMs;
    return {
      kind: 'reject',
      reason: 'budget',
      retryAfterMs: wait,
      message: `request budget: ${usage.requests} of ${state.requestBudget} requests per ${policy.windowMs / 1000} s window used`,
    };
  }
  return { kind: 'admit', probe: breaker.phase === 'half-open', reservedTokens };
}
