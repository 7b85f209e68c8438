import { budgetCeiling, budgetOf, reportedLimitOf, scaledReportedLimit, seconds, withBudget, type BudgetAdjustment } from './controller.js';
import type { LimiterPolicy, LimiterState } from './types.js';

/*
 * Budgets set from outside the controller's own loop of cuts and raises: the configuration
 * (at start and on reload) and the limits the upstream reports. Either may leave a budget above
 * its new ceiling, so both end by clamping to it.
 */

/** Budgets the configuration asks for now, when they differ from the ones last adopted. */
export function adoptConfiguredBudgets(
  state: LimiterState,
  policy: LimiterPolicy,
): { state: LimiterState; adjustments: BudgetAdjustment[] } {
  let next = state;
  const adjustments: BudgetAdjustment[] = [];
  const configured = { tokens: policy.tokenBudget, requests: policy.requestBudget };
  const adopted = { tokens: state.configuredTokenBudget, requests: state.configuredRequestBudget };
  for (const kind of ['tokens', 'requests'] as const) {
    if (configured[kind] === adopted[kind]) continue;
    const from = budgetOf(next, kind);
    const to = configured[kind] ?? scaledReportedLimit(reportedLimitOf(next, kind), policy);
    next = withBudget(next, kind, to);
    next =
      kind === 'tokens' ? { ...next, configuredTokenBudget: configured[kind] } : { ...next, configuredRequestBudget: configured[kind] };
    if (from !== to) {
      adjustments.push({
        kind,
        from,
        to,
        reason: 'config',
        gates: null,
        detail: `configured ${kind} budget is now ${configured[kind] ?? 'unset'}`,
      });
    }
  }
  const clamped = clampToCeilings(next, policy);
  return { state: clamped.state, adjustments: [...adjustments, ...clamped.adjustments] };
}

/**
 * The upstream reported its limits. An unconfigured budget follows them (scaled, times the
 * safety margin): set when there was none, moved along when it stood at the old known-good
 * level; a configured one is never left above them.
 */
export function adoptReportedLimits(
  state: LimiterState,
  reported: { tokenLimit: number | null; requestLimit: number | null },
  policy: LimiterPolicy,
): { state: LimiterState; adjustments: BudgetAdjustment[] } {
  let next: LimiterState = {
    ...state,
    reportedTokenLimit: reported.tokenLimit ?? state.reportedTokenLimit,
    reportedRequestLimit: reported.requestLimit ?? state.reportedRequestLimit,
  };
  const adjustments: BudgetAdjustment[] = [];
  for (const kind of ['tokens', 'requests'] as const) {
    const limit = reportedLimitOf(next, kind);
    const configured = kind === 'tokens' ? policy.tokenBudget : policy.requestBudget;
    const budget = budgetOf(next, kind);
    const atOldLevel = budget !== null && budget === scaledReportedLimit(reportedLimitOf(state, kind), policy);
    if (limit === null || configured !== null || (budget !== null && !atOldLevel)) continue;
    const to = scaledReportedLimit(limit, policy);
    if (to === budget) continue;
    adjustments.push({
      kind,
      from: budget,
      to,
      reason: 'reported-limit',
      gates: null,
      detail: `upstream reports ${limit} per ${seconds(policy.limitPeriodMs)}; ×${policy.safetyMargin} safety margin, scaled to the ${seconds(policy.windowMs)} window`,
    });
    next = withBudget(next, kind, to);
  }
  const clamped = clampToCeilings(next, policy);
  return { state: clamped.state, adjustments: [...adjustments, ...clamped.adjustments] };
}

function clampToCeilings(state: LimiterState, policy: LimiterPolicy): { state: LimiterState; adjustments: BudgetAdjustment[] } {
  let next = state;
  const adjustments: BudgetAdjustment[] = [];
  for (const kind of ['tokens', 'requests'] as const) {
    const budget = budgetOf(next, kind);
    const ceiling = budgetCeiling(next, kind, policy);
    if (budget === null || ceiling === null || budget <= ceiling) continue;
    adjustments.push({ kind, from: budget, to: ceiling, reason: 'ceiling', gates: null, detail: `above the ceiling ${ceiling}` });
    next = withBudget(next, kind, ceiling);
  }
  return { state: next, adjustments };
}
