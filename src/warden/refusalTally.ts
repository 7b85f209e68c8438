import type { RejectReason } from '../core/admission.js';
import { defaultScope } from '../core/scopes.js';
import type { PendingRefusals } from './tickStep.js';

/**
 * The local refusals counted since the last tick, per scope: the tick adds them to the durable
 * totals in its own transaction, so that a refusal never costs a write on the request path.
 */
export class RefusalTally {
  private pending: PendingRefusals = new Map();

  /** One local refusal answered (or, by a direct admit, decided). */
  count(reason: RejectReason, scope: string = defaultScope): void {
    // The durable totals keep two columns: waiting out a probe and a quota stop's refusals count with the cooldown's.
    this.add(scope, reason === 'budget' ? { cooldown: 0, budget: 1 } : { cooldown: 1, budget: 0 });
  }

  /**
   * Hands the counts so far to `tick`; those counted meanwhile wait for the next one. When `tick`
   * fails, its counts are put back, added to those counted meanwhile: none is lost or counted twice.
   */
  async handOver<T>(tick: (refusals: PendingRefusals) => Promise<T>): Promise<T> {
    const refusals = this.pending;
    this.pending = new Map();
    try {
      return await tick(refusals);
    } catch (error) {
      for (const [scope, counts] of refusals) this.add(scope, counts);
      throw error;
    }
  }

  private add(scope: string, counts: { cooldown: number; budget: number }): void {
    const pending = this.pending.get(scope);
    if (pending === undefined) this.pending.set(scope, { ...counts });
    else {
      pending.cooldown += counts.cooldown;
      pending.budget += counts.budget;
    }
  }
}
