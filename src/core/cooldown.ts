import type { LimiterState, LimiterPolicy } from './types.js';

/** The breaker around the upstream: closed, cooling down, or half-open (one probe may pass). */
export type CooldownPhase =
  | { phase: 'closed' }
  | { phase: 'cooling'; remainingMs: number; until: number }
  | { phase: 'half-open'; probeInFlight: boolean; probeRequestId: number | null };

export function cooldownPhase(
  state: Pick<LimiterState, 'cooldownUntil' | 'cooldownStartedAt' | 'probeRequestId' | 'probeStartedAt'>,
  now: number,
  policy: Pick<LimiterPolicy, 'probeTimeoutMs' | 'unsafeNoCooldown'>,
): CooldownPhase {
  if (state.cooldownUntil === null || policy.unsafeNoCooldown === true) return { phase: 'closed' };
  if (now < state.cooldownUntil) {
    return { phase: 'cooling', remainingMs: state.cooldownUntil - now, until: state.cooldownUntil };
  }
  // A probe whose process died never settles; after the probe timeout another may go.
  const probeInFlight =
    state.probeRequestId !== null && state.probeStartedAt !== null && now - state.probeStartedAt < policy.probeTimeoutMs;
  return { phase: 'half-open', probeInFlight, probeRequestId: probeInFlight ? state.probeRequestId : null };
}
