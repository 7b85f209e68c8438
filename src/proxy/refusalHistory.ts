import type { Clock } from '../kernel/clock.js';
import { historySpanMs, type RefusalCount } from '../core/statusHistory.js';

const minuteMs = 60_000;

/**
 * The local refusals (429 and 503 answered by this proxy) per minute and reason over the last
 * hour, in memory: the database keeps only totals, and the live page draws them over time.
 * At most one entry per minute and reason, so its size is bounded whatever the traffic.
 */
export class RefusalHistory {
  private readonly minutes = new Map<number, Map<string, number>>();
  readonly since: number;

  constructor(private readonly clock: Clock) {
    this.since = clock();
  }

  add(status: number, reason: string): void {
    if (status !== 429 && status !== 503) return;
    const now = this.clock();
    const minute = Math.floor(now / minuteMs) * minuteMs;
    let counts = this.minutes.get(minute);
    if (counts === undefined) {
      counts = new Map();
      this.minutes.set(minute, counts);
      this.forgetBefore(now - historySpanMs - minuteMs);
    }
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }

  /** Oldest minute first. */
  counts(): RefusalCount[] {
    const lines: RefusalCount[] = [];
    for (const [minute, counts] of [...this.minutes].sort((a, b) => a[0] - b[0])) {
      for (const [reason, count] of counts) lines.push({ minute, reason, count });
    }
    return lines;
  }

  private forgetBefore(at: number): void {
    for (const minute of this.minutes.keys()) if (minute < at) this.minutes.delete(minute);
  }
}
