import { sampleToRecord, type CalibrationSample } from './calibration.js';
import { cooldownLengthMs } from './backoff.js';
import { cutAt429, type Blame, type BudgetAdjustment } from './controller.js';
import { cooldownAfter429 } from './cooldownLength.js';
import type { LimiterPolicy, LimiterState, TokenEstimate, WindowUsage } from './types.js';

export type SettleOutcome = 'ok' | 'upstream-error' | 'unreachable' | 'timeout' | 'aborted';

export interface SettlingRequest {
  id: number;
  admittedAt: number;
  probe: boolean;
  estimate: TokenEstimate;
}

const zero: TokenEstimate = { inputTokens: 0, outputTokens: 0 };

/**
 * What a finished request really spent. A request the upstream never answered gives its
 * tokens back; one cut short counts what was seen, or its whole reservation when nothing was.
 */
export function spentTokens(outcome: SettleOutcome | 'upstream-429', estimate: TokenEstimate, usage: TokenEstimate | null): TokenEstimate {
  switch (outcome) {
    case 'ok':
    case 'upstream-error':
    case 'aborted':
      return usage ?? estimate;
    case 'unreachable':
    case 'timeout':
    case 'upstream-429':
      return zero;
  }
}

/** A request settled without a 429: a success closes the breaker if it may; a probe's success starts recovery. */
export function afterSettle(
  state: LimiterState,
  request: SettlingRequest,
  outcome: SettleOutcome,
  status: number | null,
  now: number,
  policy: Pick<LimiterPolicy, 'unsafeNoCooldown'> = {},
): LimiterState {
  const isProbe = request.probe && state.probeRequestId === request.id;
  const success = outcome === 'ok' && status !== null && status >= 200 && status < 300;
  // A success that left before the current cooldown began proves nothing about the upstream now.
  const predatesCooldown = state.cooldownStartedAt !== null && request.admittedAt < state.cooldownStartedAt;
  // Without a breaker (the unsafe seed setup), any success ends the streak, as the seed's did.
  if (success && (isProbe || policy.unsafeNoCooldown === true || (state.cooldownUntil === null && !predatesCooldown))) {
    return breakerClosed(state, isProbe ? now : state.lastProbeSuccessAt);
  }
  // A probe that failed otherwise leaves the breaker half-open: the next request probes.
  return isProbe ? { ...state, probeRequestId: null, probeStartedAt: null } : state;
}

export interface Upstream429Decision {
  state: LimiterState;
  escalated: boolean;
  cooldownMs: number;
  sample: CalibrationSample | null;
  adjustments: BudgetAdjustment[];
}

/**
 * The upstream answered 429; `announcedMs` is when it said to come back (announcedWaitMs), or
 * null. The cooldown follows cooldownAfter429. A request that was admitted before the current
 * cooldown began, or refused while it runs, belongs to the same incident: it may lengthen the
 * cooldown to its announcement but does not climb the backoff ladder or cut the budget a second time.
 */
export function onUpstream429(
  state: LimiterState,
  request: SettlingRequest,
  announcedMs: number | null,
  usageAt429: WindowUsage,
  blame: Blame,
  now: number,
  policy: LimiterPolicy,
  random: number,
): Upstream429Decision {
  // Also one that comes while the cooldown runs: the scope admitted nothing since it began, so
  // the request went out before it, or under another scope (a key's own, before the key was
  // known to belong to this group). Only a 429 after the cooldown's end says it was too short.
  const duringCooldown = policy.unsafeNoCooldown !== true && state.cooldownUntil !== null && state.cooldownUntil > now;
  const sameIncident =
    !request.probe && ((state.cooldownStartedAt !== null && request.admittedAt < state.cooldownStartedAt) || duringCooldown);
  const sample = sampleToRecord(
    {
      at: now,
      kind: 'upstream-429',
      tokens: usageAt429.tokens,
      requests: usageAt429.requests,
      windowMs: policy.windowMs,
      retryAfterMs: announcedMs,
      limitTokens: state.reportedTokenLimit,
      limitRequests: state.reportedRequestLimit,
    },
    policy,
  );
  const clearedProbe = state.probeRequestId === request.id ? { probeRequestId: null, probeStartedAt: null } : {};
  if (sameIncident) {
    const until = Math.max(state.cooldownUntil ?? now, now + (announcedMs ?? 0));
    return {
      state: { ...state, ...clearedProbe, cooldownUntil: until, last429At: now },
      escalated: false,
      cooldownMs: until - now,
      sample,
      adjustments: [],
    };
  }
  const n = state.consecutive429s + 1;
  // The seed's setup (the demo's amnesia run) kept its ladder whatever was announced; it only recorded it.
  const cooldownMs =
    policy.unsafeNoCooldown === true
      ? cooldownLengthMs(n, announcedMs, policy, random)
      : cooldownAfter429(state, announcedMs, policy, random);
  const escalatedState: LimiterState = {
    ...state,
    ...clearedProbe,
    consecutive429s: n,
    backoffLevel: n,
    cooldownStartedAt: now,
    cooldownUntil: now + cooldownMs,
    last429At: now,
  };
  // A probe's 429 climbs the ladder but does not cut: the incident's first 429 already did, and
  // the window behind a probe holds almost nothing, so a cut from it would collapse the budget.
  const cut = request.probe ? { state: escalatedState, adjustments: [] } : cutAt429(escalatedState, usageAt429, blame, policy);
  return { state: cut.state, escalated: true, cooldownMs, sample, adjustments: cut.adjustments };
}

export interface ClearedCooldown {
  state: LimiterState;
  /** What was in force before the reset; all zero/null means nothing was. */
  cleared: { cooldownRemainingMs: number; consecutive429s: number; backoffLevel: number; probePending: boolean; halfOpen: boolean };
}

/** The operator's override: the breaker is closed and the ladder goes back to its first rung. */
export function clearCooldown(state: LimiterState, now: number): ClearedCooldown {
  return {
    state: breakerClosed(state, state.lastProbeSuccessAt),
    cleared: {
      cooldownRemainingMs: state.cooldownUntil === null ? 0 : Math.max(0, state.cooldownUntil - now),
      consecutive429s: state.consecutive429s,
      backoffLevel: state.backoffLevel,
      probePending: state.probeRequestId !== null,
      halfOpen: state.cooldownUntil !== null && state.cooldownUntil <= now,
    },
  };
}

export function somethingCleared(cleared: ClearedCooldown['cleared']): boolean {
  return (
    cleared.cooldownRemainingMs > 0 || cleared.consecutive429s > 0 || cleared.backoffLevel > 0 || cleared.probePending || cleared.halfOpen
  );
}

/** The breaker closed by a success: the streak, the ladder, the cooldown and the probe cleared. */
export function breakerClosed(state: LimiterState, lastProbeSuccessAt: number | null): LimiterState {
  return {
    ...state,
    consecutive429s: 0,
    backoffLevel: 0,
    cooldownStartedAt: null,
    cooldownUntil: null,
    probeRequestId: null,
    probeStartedAt: null,
    lastProbeSuccessAt,
  };
}
