import { EventWindow } from './eventWindow.js';
import { TokenBucket } from './tokenBucket.js';

/**
 * The two shapes of upstream limit the simulation offers. `token-bucket` (Anthropic, the
 * replay's default) refills continuously and refuses a request whose need is not in the bucket;
 * its output reservation (`max_tokens`) is taken at arrival and what was not generated is given
 * back at the end. `sliding-window` (OpenAI-like) counts each token for one window after it was
 * spent, output as it is generated, and refuses once the window is full.
 */
export type LimitShape = 'sliding-window' | 'token-bucket';

/** One limited dimension (tokens or requests) of the upstream. */
export interface Allowance {
  readonly limit: number;
  /** Whether a request needing `need` is refused now. */
  refuses(need: number, at: number): boolean;
  charge(amount: number, at: number): void;
  /** An unused reservation comes back (token bucket); a window charges only what was spent, so it has none. */
  refund(amount: number, at: number): void;
  used(at: number): number;
  remaining(at: number): number;
  /** What `*-reset` reports: the window empty, or the bucket full again. */
  resetMs(at: number): number;
  /** When a request needing `need` would no longer be refused. */
  msUntilRoom(need: number, at: number): number;
}

class WindowAllowance implements Allowance {
  private readonly window: EventWindow;

  constructor(
    readonly limit: number,
    windowMs: number,
  ) {
    this.window = new EventWindow(windowMs);
  }

  refuses(_need: number, at: number): boolean {
    return this.window.usage(at) >= this.limit;
  }

  charge(amount: number, at: number): void {
    this.window.add(at, amount);
  }

  refund(): void {
    // Nothing was reserved ahead: the window charged what was generated, as it was generated.
  }

  used(at: number): number {
    return this.window.usage(at);
  }

  remaining(at: number): number {
    return Math.max(0, this.limit - this.window.usage(at));
  }

  resetMs(at: number): number {
    return this.window.msUntilEmpty(at);
  }

  msUntilRoom(_need: number, at: number): number {
    return this.window.msUntilBelow(this.limit, at);
  }
}

class BucketAllowance implements Allowance {
  private readonly bucket: TokenBucket;

  constructor(
    readonly limit: number,
    windowMs: number,
    startAt: number,
  ) {
    this.bucket = new TokenBucket(limit, windowMs, startAt);
  }

  refuses(need: number, at: number): boolean {
    return !this.bucket.fits(need, at);
  }

  charge(amount: number, at: number): void {
    this.bucket.take(amount, at);
  }

  refund(amount: number, at: number): void {
    if (amount > 0) this.bucket.giveBack(amount, at);
  }

  used(at: number): number {
    return this.limit - this.bucket.available(at);
  }

  remaining(at: number): number {
    return Math.floor(this.bucket.available(at));
  }

  resetMs(at: number): number {
    return this.bucket.msUntilFull(at);
  }

  msUntilRoom(need: number, at: number): number {
    return this.bucket.msUntilFits(need, at);
  }
}

export function createAllowance(shape: LimitShape, limit: number, windowMs: number, startAt: number): Allowance {
  return shape === 'token-bucket' ? new BucketAllowance(limit, windowMs, startAt) : new WindowAllowance(limit, windowMs);
}
