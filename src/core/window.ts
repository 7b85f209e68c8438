import type { TokenMetric, UsageBucket, WindowUsage } from './types.js';

const minBucketMs = 10;
const maxBucketMs = 1_000;

/**
 * Bucket width for a window: about a hundredth of it, never over 1 s, so that summing a window
 * reads at most ~100 rows whatever the history, and the window edge is off by at most 1 %.
 */
export function bucketWidthFor(windowMs: number): number {
  return Math.min(maxBucketMs, Math.max(minBucketMs, Math.floor(windowMs / 100)));
}

export function bucketStartFor(at: number, widthMs: number): number {
  return Math.floor(at / widthMs) * widthMs;
}

/**
 * The oldest bucket start that still overlaps the window (now − window, now]. A bucket that
 * overlaps only partly counts whole: usage ages out at most one bucket late, never early.
 */
export function oldestBucketInWindow(now: number, windowMs: number, widthMs: number): number {
  return now - windowMs - widthMs + 1;
}

export function tokensOf(bucket: Pick<UsageBucket, 'inputTokens' | 'outputTokens'>, metric: TokenMetric): number {
  switch (metric) {
    case 'input':
      return bucket.inputTokens;
    case 'output':
      return bucket.outputTokens;
    case 'total':
      return bucket.inputTokens + bucket.outputTokens;
  }
}

export function sumWindow(buckets: readonly UsageBucket[], metric: TokenMetric): WindowUsage {
  let tokens = 0;
  let requests = 0;
  for (const bucket of buckets) {
    tokens += tokensOf(bucket, metric);
    requests += bucket.requests;
  }
  return { tokens, requests };
}

/**
 * How long until the window has room for `need` more of a quantity under `budget`, given the
 * buckets in the window (any order). Each bucket leaves the window `windowMs` after its end.
 * Returns null when even an empty window could not hold `need`.
 */
export function msUntilRoom(
  buckets: readonly UsageBucket[],
  amountOf: (bucket: UsageBucket) => number,
  need: number,
  budget: number,
  now: number,
  windowMs: number,
  widthMs: number,
): number | null {
  if (need > budget) return null;
  const oldestFirst = [...buckets].sort((a, b) => a.start - b.start);
  let used = oldestFirst.reduce((sum, bucket) => sum + amountOf(bucket), 0);
  if (used + need <= budget) return 0;
  for (const bucket of oldestFirst) {
    used -= amountOf(bucket);
    if (used + need <= budget) return Math.max(1, bucket.start + widthMs + windowMs - now);
  }
  return Math.max(1, windowMs);
}
