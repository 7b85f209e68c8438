import type { BudgetAdjustment } from '../core/controller.js';
import { hasCut, healStaleCuts } from '../core/cutHealing.js';
import type { LimiterPolicy, LimiterState } from '../core/types.js';
import type { StoreTransaction } from '../store/port.js';

/**
 * Inside an event's transaction, after its decision: a stale cut heals when the scope's fresh
 * reports show room (core's healStaleCuts). The reports are read only when a cut is in force,
 * so a settle without one costs nothing more.
 */
export async function withStaleCutsHealed(
  tx: StoreTransaction,
  scope: string,
  decided: { state: LimiterState; adjustments: BudgetAdjustment[] },
  policy: LimiterPolicy,
): Promise<{ state: LimiterState; adjustments: BudgetAdjustment[] }> {
  // The seed's controller (the demo's amnesia run) never healed a cut.
  if (policy.unsafeSeedRaise === true || !hasCut(decided.state, policy)) return decided;
  const healed = healStaleCuts(decided.state, await tx.reported.reports(scope), tx.now, policy);
  return { state: healed.state, adjustments: [...decided.adjustments, ...healed.adjustments] };
}
