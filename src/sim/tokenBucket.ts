/**
 * A token bucket as Anthropic describes its limits: it holds at most `capacity`, refills
 * continuously at `capacity` per `refillMs` (so an empty bucket is full again one window later),
 * and a request is refused when what it needs is not in the bucket, not only when it is empty.
 */
export class TokenBucket {
  private level: number;
  private updatedAt: number;

  constructor(
    readonly capacity: number,
    private readonly refillMs: number,
    startAt: number,
  ) {
    this.level = capacity;
    this.updatedAt = startAt;
  }

  private refill(now: number): void {
    if (now <= this.updatedAt) return;
    this.level = Math.min(this.capacity, this.level + ((now - this.updatedAt) * this.capacity) / this.refillMs);
    this.updatedAt = now;
  }

  available(now: number): number {
    this.refill(now);
    return Math.max(0, this.level);
  }

  /** A need larger than the whole bucket fits only a full bucket (it could never fit otherwise). */
  fits(need: number, now: number): boolean {
    return this.available(now) >= Math.min(need, this.capacity);
  }

  take(amount: number, now: number): void {
    this.refill(now);
    this.level -= amount;
  }

  giveBack(amount: number, now: number): void {
    this.refill(now);
    this.level = Math.min(this.capacity, this.level + amount);
  }

  /** Milliseconds until `need` is in the bucket (0 if it is now). */
  msUntilFits(need: number, now: number): number {
    const missing = Math.min(need, this.capacity) - this.available(now);
    return missing <= 0 ? 0 : Math.ceil((missing * this.refillMs) / this.capacity);
  }

  /** Milliseconds until the bucket is full again: what `*-reset` reports. */
  msUntilFull(now: number): number {
    return Math.ceil(((this.capacity - this.available(now)) * this.refillMs) / this.capacity);
  }
}
