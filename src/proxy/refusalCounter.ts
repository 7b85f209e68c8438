import type { RejectReason } from '../core/admission.js';

/** Local 429s since the last summary: they are logged once per tick, not once per request. */
export class RefusalCounter {
  private counts: Record<RejectReason, number> = { cooldown: 0, probe: 0, budget: 0, quota: 0 };

  count(reason: RejectReason): void {
    this.counts[reason] += 1;
  }

  take(): Record<RejectReason, number> {
    const taken = this.counts;
    this.counts = { cooldown: 0, probe: 0, budget: 0, quota: 0 };
    return taken;
  }
}
