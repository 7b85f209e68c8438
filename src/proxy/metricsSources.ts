import { restartPolicyFrom } from '../config/policy.js';
import type { Settings } from '../config/schema.js';
import { cooldownPhase } from '../core/cooldown.js';
import type { Store } from '../store/port.js';
import { readRestartSummary } from '../warden/restartSummary.js';
import type { Clock } from '../kernel/clock.js';
import type { Warden } from '../warden/warden.js';
import type { MetricsSources } from './metrics.js';
import { boundedReadings } from './scopeSeriesCap.js';

/** The warden's read-only views, and the supervisor's history in the same store, as the metrics read them when scraped. */
export function metricsSourcesFor(warden: Warden, store: Store, settings: Settings, clock: Clock): MetricsSources {
  const restartPolicy = restartPolicyFrom(settings);
  return {
    windowMs: warden.policy.windowMs,
    async limiters() {
      const states = await warden.views.scopeStates();
      const now = clock();
      // Bounded: a flood of keys must not grow the scrape without end (scopeSeriesCap.ts).
      return boundedReadings(
        states.map(({ scope, state, usage, reports }) => {
          const phase = cooldownPhase(state, now, warden.policyOf(scope));
          return {
            labels: { scope },
            state,
            usage,
            reported: reports.map((report) => ({
              dimension: report.dimension,
              remaining: report.remaining,
              ageMs: Math.max(0, now - report.seenAt),
            })),
            cooldownRemainingMs: phase.phase === 'cooling' ? phase.remainingMs : 0,
            probeInFlight: phase.phase === 'half-open' && phase.probeInFlight,
          };
        }),
      );
    },
    restarts: () => readRestartSummary(store, restartPolicy),
  };
}
