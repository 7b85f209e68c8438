import { defaultLimiterPolicy, type LimiterPolicy, type UsageBucket, type WindowUsage } from '../../src/core/types.js';
import { bucketWidthFor, oldestBucketInWindow, sumWindow } from '../../src/core/window.js';

/** What the kill -9 child runs with; the parent needs the same window to measure usage. */
export const kill9Policy: LimiterPolicy = {
  ...defaultLimiterPolicy,
  // Long enough that nothing ages out while the test runs: usage may only grow.
  windowMs: 600_000,
  // A 429 sets the token budget below the usage in the window, which would refuse every request
  // until the long window ages out. The budget counts input tokens and the workload spends none,
  // so no budget is ever learned, and cooldowns keep coming and going.
  tokenMetric: 'input',
  backoffBaseMs: 100,
  backoffMaxMs: 600,
  probeTimeoutMs: 300,
};

export const reservation = { inputTokens: 0, outputTokens: 30 };

/** One committed mutation, as the child reports it after the commit. */
export type Kill9Report =
  | { op: 'ready' }
  | { op: 'admit'; id: number; probe: boolean; estimate: number }
  | { op: 'settle'; id: number; inputTokens: number; outputTokens: number }
  | { op: '429'; id: number };

/** A report line also carries the window usage and the cooldown as they stood after the commit. */
export type Kill9Line = Kill9Report & { tokens: number; requests: number; cooldownUntil: number | null };

/** Every token in the window, whatever the budget's metric counts, read the way the warden reads it. */
export function totalWindowUsage(windowTotals: UsageBucket): WindowUsage {
  return sumWindow([windowTotals], 'total');
}

/** The oldest usage bucket of the window at `now`: what the totals are read from. */
export const kill9WindowStart = (now: number): number =>
  oldestBucketInWindow(now, kill9Policy.windowMs, bucketWidthFor(kill9Policy.windowMs));
