interface WindowEvent {
  at: number;
  amount: number;
}

/**
 * A true sliding window: an event counts for exactly `windowMs` after it happened, so usage
 * drains gradually as individual events age out, never all at once at a fixed reset.
 */
export class EventWindow {
  private events: WindowEvent[] = [];
  private oldest = 0;
  private total = 0;

  constructor(private readonly windowMs: number) {}

  add(at: number, amount: number): void {
    if (amount <= 0) return;
    this.events.push({ at, amount });
    this.total += amount;
  }

  usage(now: number): number {
    this.expire(now);
    return this.total;
  }

  /** Milliseconds until usage has fallen below `limit` (0 if it already has). */
  msUntilBelow(limit: number, now: number): number {
    let remaining = this.usage(now);
    for (let index = this.oldest; index < this.events.length && remaining >= limit; index++) {
      const event = this.events[index];
      if (event === undefined) break;
      remaining -= event.amount;
      if (remaining < limit) return event.at + this.windowMs - now;
    }
    return 0;
  }

  /** Milliseconds until everything now in the window has aged out. */
  msUntilEmpty(now: number): number {
    this.expire(now);
    const newest = this.events[this.events.length - 1];
    return newest === undefined || this.total === 0 ? 0 : newest.at + this.windowMs - now;
  }

  private expire(now: number): void {
    while (this.oldest < this.events.length) {
      const event = this.events[this.oldest];
      if (event === undefined || event.at + this.windowMs > now) break;
      this.total -= event.amount;
      this.oldest++;
    }
    // Compact only occasionally so that expiring stays amortised O(1) per event.
    if (this.oldest > 1024 && this.oldest * 2 > this.events.length) {
      this.events = this.events.slice(this.oldest);
      this.oldest = 0;
    }
  }
}
