import { knownGood, type BudgetAdjustment, type BudgetKind } from './controller.js';
import { isFresh, kindOf, refilledAt, type ReportedRemaining } from './reported.js';
import type { LimiterPolicy, LimiterState } from './types.js';

const budgetOf = (state: LimiterState, kind: BudgetKind): number | null => (kind === 'tokens' ? state.tokenBudget : state.requestBudget);

/**
 * What a report says the limit holds now: its remaining, refilled since, less its rounding. Not
 * less what ratewarden sent since: a busy fleet spends a bucket as it refills, which is the
 * limit used well, not exhausted (admission still counts it).
 */
function roomIn(report: ReportedRemaining, now: number): number {
  return Math.floor(refilledAt(report, now) - report.roundingSlack);
}

/**
 * A cut heals at the upstream's word. A budget cut at a 429 (below the known-good level) goes
 * straight back to known-good when the breaker is closed (the probe succeeded, or an operator
 * reset it) and a fresh report of that limit, seen after the 429, shows room (something left
 * beyond its rounding, refill included): the cut is then stale, and holding traffic below
 * what the upstream itself says is left would only cost goodput. Room, not room above the cut:
 * a busy fleet keeps a bucket low, which is the limit used well, not exhausted. Every header family's reports count (Anthropic's buckets,
 * OpenAI's x-ratelimit-*, a gateway's); admission keeps following the report itself, so going
 * back to known-good never lets through more than the upstream says it holds. Without a fresh
 * report the controller's recovery (recoveryStep) brings the budget back over two windows.
 */
export function healStaleCuts(
  state: LimiterState,
  reports: readonly ReportedRemaining[],
  now: number,
  policy: LimiterPolicy,
): { state: LimiterState; adjustments: BudgetAdjustment[] } {
  if (state.cooldownUntil !== null) return { state, adjustments: [] };
  let next = state;
  const adjustments: BudgetAdjustment[] = [];
  for (const kind of ['tokens', 'requests'] as const) {
    const budget = budgetOf(next, kind);
    const target = knownGood(next, kind, policy);
    if (budget === null || target === null || budget >= target) continue;
    const evidence = reports.find(
      (report) =>
        kindOf(report.dimension) === kind &&
        isFresh(report, now, policy.windowMs) &&
        (state.last429At === null || report.seenAt > state.last429At) &&
        roomIn(report, now) > 0,
    );
    if (evidence === undefined) continue;
    adjustments.push({
      kind,
      from: budget,
      to: target,
      reason: 'recover',
      gates: null,
      detail: `cut healed: the upstream reports ${evidence.remaining}${evidence.limit === null ? '' : ` of ${evidence.limit}`} ${evidence.dimension} left ${Math.round((now - evidence.seenAt) / 1000)} s ago, after the 429, with the breaker closed; back to known-good ${target}`,
    });
    next = kind === 'tokens' ? { ...next, tokenBudget: target } : { ...next, requestBudget: target };
  }
  return { state: next, adjustments };
}

/** Whether a budget is below its known-good level: only then is there a cut to heal (and the reports worth reading). */
export function hasCut(state: LimiterState, policy: LimiterPolicy): boolean {
  return (['tokens', 'requests'] as const).some((kind) => {
    const budget = budgetOf(state, kind);
    const target = knownGood(state, kind, policy);
    return budget !== null && target !== null && budget < target;
  });
}

/**
 * The operator's reset (`reset-cooldown`) also clears cuts: each budget below known-good goes
 * back to it at once. A budget learned at a 429 with nothing known to return to stays: there is
 * no level to clear it to but none, which would lift every guard the budget gives.
 */
export function clearCuts(state: LimiterState, policy: LimiterPolicy): { state: LimiterState; adjustments: BudgetAdjustment[] } {
  let next = state;
  const adjustments: BudgetAdjustment[] = [];
  for (const kind of ['tokens', 'requests'] as const) {
    const budget = budgetOf(next, kind);
    const target = knownGood(next, kind, policy);
    if (budget === null || target === null || budget >= target) continue;
    adjustments.push({
      kind,
      from: budget,
      to: target,
      reason: 'recover',
      gates: null,
      detail: `cut cleared by reset-cooldown; back to known-good ${target}`,
    });
    next = kind === 'tokens' ? { ...next, tokenBudget: target } : { ...next, requestBudget: target };
  }
  return { state: next, adjustments };
}
