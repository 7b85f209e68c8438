import { cooldownPhase } from './cooldown.js';
import { fitsReported, kindOf, needOn, reportsInForce, type ReportedRemaining } from './reported.js';
import type { LimiterPolicy, LimiterState, TokenEstimate, UsageBucket } from './types.js';
import { bucketWidthFor, msUntilRoom, sumWindow, tokensOf } from './window.js';

/**
 * `probe`: the one half-open probe is out; the request waits in the queue for its answer's
 * status (and is refused only after --max-wait). `quota`: the upstream said the quota or spend
 * limit ran out (core/quota.ts). `cooldown` and `budget` as their names say.
 */
export type RejectReason = 'cooldown' | 'probe' | 'budget' | 'quota';

/**
 * The longest a request can wait for the probe out now: until its answer's head, at the latest
 * until the probe timeout lets another probe go. What a client refused meanwhile is told.
 */
export function probeWaitMs(
  state: Pick<LimiterState, 'probeStartedAt'>,
  now: number,
  policy: Pick<LimiterPolicy, 'probeTimeoutMs'>,
): number {
  return state.probeStartedAt === null ? policy.probeTimeoutMs : Math.max(1, state.probeStartedAt + policy.probeTimeoutMs - now);
}

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
 * The seed's rule, before any budget: while cooling every request is refused at once (a cooldown
 * is never waited out in the queue); while the one half-open probe is out, every other request
 * is refused with reason `probe`, which the queue waits out (its status decides, at its head).
 */
export function refuseWhileCooling(state: LimiterState, now: number, policy: LimiterPolicy): AdmissionDecision | null {
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
      reason: 'probe',
      retryAfterMs: probeWaitMs(state, now, policy),
      message: 'cooldown ended; a single probe request is testing the upstream before traffic resumes',
    };
  }
  return null;
}

/**
 * Decide one request. `buckets` are those overlapping the window at `now`; `estimate` is the
 * request's reservation on the local window; `reports` what the upstream last said is left of
 * each of its limits, and `reportedCharge` what the upstream charges each of them by its own
 * rule (chargeRules.ts: Anthropic holds `max_tokens` of output while a request runs).
 * Budgets come from the durable state (the controller moves them).
 *
 * Every fresh report must hold: the upstream's own count of what is left, which sees a second
 * tenant's traffic on the same key. A fresh report of a token bucket also replaces the local
 * window budget for its limit: on top of it, the window would hold a fleet to one window's worth
 * where the bucket lets it draw its whole content plus the refill, the goodput a client talking
 * to the upstream directly gets — unless the operator configured or capped that budget. Any
 * other report (a sliding window refills only as old usage ages out) is followed on top of the
 * window budget, which also guards every limit no fresh report covers.
 */
export function decideAdmission(
  state: LimiterState,
  buckets: readonly UsageBucket[],
  estimate: TokenEstimate,
  now: number,
  policy: LimiterPolicy,
  reports: readonly ReportedRemaining[] = [],
  reportedCharge: TokenEstimate = estimate,
): AdmissionDecision {
  const refusal = refuseWhileCooling(state, now, policy);
  if (refusal !== null) return refusal;
  const breaker = cooldownPhase(state, now, policy);
  const reservedTokens = tokensOf(estimate, policy.tokenMetric);
  const inForce = reportsInForce(reports, now, policy.windowMs);
  for (const report of inForce) {
    const fit = fitsReported(report, needOn(report.dimension, reportedCharge), now, policy.safetyMargin);
    if (!fit.fits) return { kind: 'reject', reason: 'budget', retryAfterMs: fit.waitMs, message: fit.message };
  }
  // A budget the operator configured (or capped) is theirs, e.g. room left for another team: it always holds.
  const bucketCovers = (kind: 'tokens' | 'requests'): boolean =>
    inForce.some((report) => report.refill === 'bucket' && kindOf(report.dimension) === kind);
  const reportedTokens = policy.tokenBudget === null && policy.tokenBudgetMax === null && bucketCovers('tokens');
  const reportedRequests = policy.requestBudget === null && policy.requestBudgetMax === null && bucketCovers('requests');
  const usage = sumWindow(buckets, policy.tokenMetric);
  const widthMs = bucketWidthFor(policy.windowMs);
  // A window with nothing in it admits even a request larger than the whole budget: refusing
  // it would starve it forever, and its reservation is replaced by real usage at settle.
  if (!reportedTokens && state.tokenBudget !== null && usage.tokens > 0 && usage.tokens + reservedTokens > state.tokenBudget) {
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
  if (!reportedRequests && state.requestBudget !== null && usage.requests + 1 > state.requestBudget) {
    const wait = msUntilRoom(buckets, (b) => b.requests, 1, state.requestBudget, now, policy.windowMs, widthMs) ?? policy.windowMs;
    return {
      kind: 'reject',
      reason: 'budget',
      retryAfterMs: wait,
      message: `request budget: ${usage.requests} of ${state.requestBudget} requests per ${policy.windowMs / 1000} s window used`,
    };
  }
  return { kind: 'admit', probe: breaker.phase === 'half-open', reservedTokens };
}
