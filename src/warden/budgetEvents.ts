import type { BudgetAdjustment } from '../core/controller.js';

/** One budget change this process made, after its transaction committed. */
export interface BudgetEvent {
  scope: string;
  at: number;
  adjustment: BudgetAdjustment;
}

/** A cut (or a budget first learned at a 429), a recovery towards known-good, or anything else. */
export type BudgetChangeKind = 'cut' | 'recover' | 'other';

export function changeKindOf(adjustment: BudgetAdjustment): BudgetChangeKind {
  if (adjustment.reason === 'cut' || adjustment.reason === 'learned-at-429') return 'cut';
  if (adjustment.reason === 'recover') return 'recover';
  return 'other';
}

/**
 * The budget changes this process committed, for the log (each once, by the ticker) and for the
 * metrics (totals since the process started). Recorded only after the transaction that made
 * them committed: a transaction retried on PostgreSQL would otherwise count its changes twice.
 */
export class BudgetEvents {
  private pending: BudgetEvent[] = [];
  private readonly totals = new Map<string, number>();

  record(scope: string, at: number, adjustments: readonly BudgetAdjustment[]): void {
    for (const adjustment of adjustments) {
      this.pending.push({ scope, at, adjustment });
      const key = `${scope}\u0000${changeKindOf(adjustment)}\u0000${adjustment.kind}`;
      this.totals.set(key, (this.totals.get(key) ?? 0) + 1);
    }
  }

  /** The changes not yet taken, oldest first; each is returned once. */
  take(): BudgetEvent[] {
    const taken = this.pending;
    this.pending = [];
    return taken;
  }

  /** How many changes of each kind, per scope and budget, since this process started. */
  counts(): { scope: string; change: BudgetChangeKind; budget: 'tokens' | 'requests'; count: number }[] {
    return [...this.totals].map(([key, count]) => {
      const [scope, change, budget] = key.split('\u0000') as [string, BudgetChangeKind, 'tokens' | 'requests'];
      return { scope, change, budget, count };
    });
  }
}
