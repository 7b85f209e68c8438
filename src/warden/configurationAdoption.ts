import { adoptConfiguredBudgets } from '../core/budgetAdoption.js';
import type { BudgetAdjustment } from '../core/controller.js';
import { defaultScope } from '../core/scopes.js';
import type { StoreTransaction } from '../store/port.js';
import type { ScopeLedger } from './scopeLedger.js';

/** At open, one transaction: every scope with usage in the window, and `default`, adopts the budgets the configuration now sets for it. */
export async function adoptConfigurationInTransaction(
  ledger: ScopeLedger,
  tx: StoreTransaction,
): Promise<{ scope: string; adjustments: BudgetAdjustment[] }[]> {
  const adoptedIn: { scope: string; adjustments: BudgetAdjustment[] }[] = [];
  const scopes = new Set([defaultScope, ...(await tx.limiter.activeScopes(tx.now - ledger.policy.windowMs, Number.NEGATIVE_INFINITY))]);
  for (const scope of scopes) {
    const state = await ledger.stateOf(tx, scope);
    const adopted = adoptConfiguredBudgets(state, ledger.policyOf(scope));
    await ledger.commit(tx, scope, state, adopted.state, adopted.adjustments);
    adoptedIn.push({ scope, adjustments: adopted.adjustments });
  }
  return adoptedIn;
}
