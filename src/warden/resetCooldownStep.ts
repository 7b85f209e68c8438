import { inLockOrder } from '../core/limitGroups.js';
import { clearCuts } from '../core/cutHealing.js';
import { clearCooldown, somethingCleared } from '../core/settlement.js';
import type { StoreTransaction } from '../store/port.js';
import type { ScopeCleared } from './eventTypes.js';
import type { ScopeLedger } from './scopeLedger.js';

/** Reset-cooldown's transaction: clears the cooldown of one scope, or (scope null) of every scope that has anything in force; one audit row. */
export async function resetInTransaction(
  ledger: ScopeLedger,
  tx: StoreTransaction,
  actor: string,
  reason: string | null,
  scope: string | null,
): Promise<{ anything: boolean; scopes: ScopeCleared[]; at: number }> {
  const { now } = tx;
  const scopes = scope !== null ? [scope] : inLockOrder(await tx.limiter.activeScopes(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY));
  const cleared: ScopeCleared[] = [];
  for (const name of scopes) {
    const state = await tx.limiter.readState(name);
    if (state === null) continue;
    const result = clearCooldown(state, now);
    // The budgets the running proxy adopted, not this command's: its configuration may differ.
    const cuts = clearCuts(result.state, {
      ...ledger.policyOf(name),
      tokenBudget: state.configuredTokenBudget,
      requestBudget: state.configuredRequestBudget,
    });
    const anything = somethingCleared(result.cleared) || cuts.adjustments.length > 0;
    if (anything) await ledger.commit(tx, name, state, cuts.state, cuts.adjustments);
    cleared.push({ scope: name, ...result.cleared, anything, cutsCleared: cuts.adjustments });
  }
  const anything = cleared.some((entry) => entry.anything);
  await tx.limiter.recordAudit(now, 'reset-cooldown', actor, reason, {
    scope: scope ?? 'all',
    anything,
    scopes: cleared.filter((entry) => entry.anything),
  });
  return { anything, scopes: cleared, at: now };
}
