import {
  defaultLimiterPolicy,
  initialLimiterState,
  type LimiterPolicy,
  type LimiterState,
  type UsageBucket,
} from '../../src/core/types.js';
import { bucketStartFor, bucketWidthFor, oldestBucketInWindow } from '../../src/core/window.js';

export const policyWith = (overrides: Partial<LimiterPolicy> = {}): LimiterPolicy => ({ ...defaultLimiterPolicy, ...overrides });

export const stateWith = (overrides: Partial<LimiterState> = {}): LimiterState => ({ ...initialLimiterState, ...overrides });

/** A fake clock that only moves when a test says so. */
export class FakeClock {
  constructor(public now: number = 1_700_000_000_000) {}

  readonly read = (): number => this.now;

  advance(ms: number): number {
    this.now += ms;
    return this.now;
  }
}

/**
 * An in-memory stand-in for `usage_buckets`, bucketed and queried the way the warden does it,
 * so that core decisions can be driven through time without a database.
 */
export class BucketLedger {
  private readonly buckets = new Map<number, UsageBucket>();
  readonly widthMs: number;

  constructor(readonly windowMs: number) {
    this.widthMs = bucketWidthFor(windowMs);
  }

  record(at: number, inputTokens: number, outputTokens: number, requests = 1): void {
    const start = bucketStartFor(at, this.widthMs);
    const bucket = this.buckets.get(start) ?? { start, inputTokens: 0, outputTokens: 0, requests: 0 };
    this.buckets.set(start, {
      start,
      inputTokens: bucket.inputTokens + inputTokens,
      outputTokens: bucket.outputTokens + outputTokens,
      requests: bucket.requests + requests,
    });
  }

  inWindow(now: number): UsageBucket[] {
    const oldest = oldestBucketInWindow(now, this.windowMs, this.widthMs);
    return [...this.buckets.values()].filter((bucket) => bucket.start >= oldest).sort((a, b) => a.start - b.start);
  }
}
