import { cooldownAfter429 } from './cooldownLength.js';
import { allOpen, budgetCeiling, evaluateGates, knownGood, type BudgetKind, type GateReport } from './controller.js';
import type { CooldownPhase } from './cooldown.js';
import type { CutInForce, GateSet, StatusReport, StatusSnapshot } from './statusReport.js';
import type { LimiterPolicy, LimiterState, WindowUsage } from './types.js';

/*
 * The limiter's own sections of the status report (budget, cooldown, probe, controller), read
 * from its state and policy; statusReport.ts assembles them with the fleet's processes.
 */

function gateSet(gates: GateReport): GateSet {
  return { ...gates, allOpen: allOpen(gates) };
}

function cutInForce(state: LimiterState, kind: BudgetKind, policy: LimiterPolicy, snapshot: StatusSnapshot): CutInForce | null {
  const budget = kind === 'tokens' ? state.tokenBudget : state.requestBudget;
  const target = knownGood(state, kind, policy);
  if (budget === null || target === null || budget >= target) return null;
  const cut = snapshot.adjustments.find((row) => row.kind === kind && (row.reason === 'cut' || row.reason === 'learned-at-429')) ?? null;
  return { budget, knownGood: target, cut };
}

export function budgetReport(state: LimiterState, policy: LimiterPolicy, snapshot: StatusSnapshot): StatusReport['budget'] {
  return {
    tokens: state.tokenBudget,
    requests: state.requestBudget,
    configuredTokens: state.configuredTokenBudget,
    configuredRequests: state.configuredRequestBudget,
    reportedTokenLimit: state.reportedTokenLimit,
    reportedRequestLimit: state.reportedRequestLimit,
    tokenCeiling: budgetCeiling(state, 'tokens', policy),
    requestCeiling: budgetCeiling(state, 'requests', policy),
    knownGoodTokens: knownGood(state, 'tokens', policy),
    knownGoodRequests: knownGood(state, 'requests', policy),
    cuts: { tokens: cutInForce(state, 'tokens', policy, snapshot), requests: cutInForce(state, 'requests', policy, snapshot) },
  };
}

export function cooldownReport(state: LimiterState, breaker: CooldownPhase, policy: LimiterPolicy): StatusReport['cooldown'] {
  return {
    active: breaker.phase === 'cooling',
    phase: breaker.phase,
    remainingMs: breaker.phase === 'cooling' ? breaker.remainingMs : 0,
    until: state.cooldownUntil,
    startedAt: state.cooldownStartedAt,
    backoffLevel: state.backoffLevel,
    consecutive429s: state.consecutive429s,
    nextCooldownMs: cooldownAfter429(state, null, policy, 0),
    last429At: state.last429At,
  };
}

/** The half-open probe: only a half-open breaker has one, so the state's probe fields are shown only then. */
export function probeReport(state: LimiterState, breaker: CooldownPhase, now: number, policy: LimiterPolicy): StatusReport['probe'] {
  const probeStartedAt = breaker.phase === 'half-open' ? state.probeStartedAt : null;
  return {
    halfOpen: breaker.phase === 'half-open',
    inFlight: breaker.phase === 'half-open' && breaker.probeInFlight,
    requestId: breaker.phase === 'half-open' ? state.probeRequestId : null,
    startedAt: probeStartedAt,
    ageMs: probeStartedAt === null ? null : Math.max(0, now - probeStartedAt),
    timeoutMs: policy.probeTimeoutMs,
  };
}

export function controllerReport(
  snapshot: StatusSnapshot,
  usage: WindowUsage,
  now: number,
  policy: LimiterPolicy,
): StatusReport['controller'] {
  const { state } = snapshot;
  return {
    lastAdjustment: snapshot.adjustments[0] ?? null,
    lastAdjustmentByKind: snapshot.lastAdjustmentByKind,
    recentAdjustments: snapshot.adjustments,
    gates: {
      tokens: gateSet(evaluateGates(state, 'tokens', usage, now, policy)),
      requests: gateSet(evaluateGates(state, 'requests', usage, now, policy)),
    },
  };
}
