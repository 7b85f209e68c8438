import type { AdmissionDecision } from './admission.js';
import type { LimiterState } from './types.js';

/**
 * Quota is not a rate limit. A 429 that says the money or the quota ran out (OpenAI
 * `insufficient_quota`, Anthropic `enforced_spend_limit_reached`) will not be lifted by waiting a
 * minute: the group stops, every request is answered locally at once with reason `quota`, and
 * one probe goes every `quotaProbeMs` (default 1 min, `--quota-probe-interval`) until one is
 * served. The ladder does not climb and no budget is cut: the rate limits are as they were.
 */
export function stopForQuota(state: LimiterState, now: number, quotaProbeMs: number): LimiterState {
  return {
    ...state,
    quotaSince: state.quotaSince ?? now,
    cooldownStartedAt: now,
    cooldownUntil: Math.max(state.cooldownUntil ?? now, now + quotaProbeMs),
    probeRequestId: null,
    probeStartedAt: null,
  };
}

/** A refusal while the quota stop is in force names it: reason `quota`, and what the client can do. */
export function quotaRefusal(state: LimiterState, decision: AdmissionDecision): AdmissionDecision {
  if (state.quotaSince === null || decision.kind !== 'reject' || decision.reason !== 'cooldown') return decision;
  const seconds = Math.ceil(decision.retryAfterMs / 1000);
  return {
    ...decision,
    reason: 'quota',
    message: `the upstream said the quota or spend limit of this group ran out (not a rate limit); ratewarden forwards nothing until a probe in ${seconds} s is served: add credits or raise the limit`,
  };
}

/** Once the probe was served (the cooldown cleared), the quota stop is over. */
export function quotaAfterSettle(state: LimiterState): LimiterState {
  return state.quotaSince !== null && state.cooldownUntil === null ? { ...state, quotaSince: null } : state;
}
