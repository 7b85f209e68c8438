import { bucketStartFor } from '../core/window.js';
import type { StoreTransaction } from '../store/port.js';

/** Scopes the tick visits besides those that changed: a slice of the active ones, in turn. */
export const tickSliceSize = 256;

/** The list of active scopes the slices are cut from is read again at most this often. */
export const activeListRefreshMs = 30_000;

/**
 * Which scopes a tick runs the controller for, so that a tick's cost follows what changed, not
 * how many scopes exist (issue 26 item 4): every scope touched since the previous tick (a usage
 * bucket written, its state changed: through indexes), plus a slice of at most `tickSliceSize`
 * of the other active scopes, taken in turn from a list read at most every
 * `activeListRefreshMs`. A scope nothing happens to (no request, no 429, no operator) is
 * therefore visited at least once per max(refresh, ⌈active / slice⌉ ticks): its recovery or raise,
 * which only time moves, waits that long at most (with 10,000 active scopes and a 1 s tick, 40 s).
 */
export class TickSelection {
  private previousTickAt: number | null = null;
  private active: string[] = [];
  private cursor = 0;
  private activeReadAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly widthMs: number) {}

  async choose(tx: StoreTransaction, activeScopes: () => Promise<string[]>): Promise<Set<string>> {
    const { now } = tx;
    // A little behind the previous tick: a change stamped just before it and committed after it is not missed.
    const since = (this.previousTickAt ?? now) - Math.max(this.widthMs, 1_000);
    const chosen = new Set(await tx.limiter.touchedScopes(bucketStartFor(since, this.widthMs), since));
    if (this.cursor >= this.active.length && now - this.activeReadAt >= activeListRefreshMs) {
      this.active = await activeScopes();
      this.cursor = 0;
      this.activeReadAt = now;
    }
    for (const scope of this.active.slice(this.cursor, this.cursor + tickSliceSize)) chosen.add(scope);
    this.cursor += tickSliceSize;
    return chosen;
  }

  /** Called once the tick's transaction committed: what changed from now on is the next tick's. */
  committed(at: number): void {
    this.previousTickAt = at;
  }
}
