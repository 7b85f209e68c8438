import type { LimiterReading } from './metrics.js';

/**
 * At most this many scopes get series of their own in /metrics (issue 26 item 4): a flood of
 * random keys must not grow the scrape without end (it reached 16 MiB). Past it, the scopes that
 * matter most are kept (cooling or probing first, then the most requests in the window, then
 * the most tokens); the others are left out of /metrics, and `ratewarden status` still lists
 * every scope.
 */
export const maxScopeSeries = 200;

const urgency = (reading: LimiterReading): number => (reading.cooldownRemainingMs > 0 || reading.probeInFlight ? 1 : 0);

export function boundedReadings(readings: readonly LimiterReading[], max = maxScopeSeries): LimiterReading[] {
  if (readings.length <= max) return [...readings];
  return [...readings]
    .sort((a, b) => urgency(b) - urgency(a) || b.usage.requests - a.usage.requests || b.usage.tokens - a.usage.tokens)
    .slice(0, max);
}
