import { restartPolicyFrom } from '../config/policy.js';
import type { Settings } from '../config/schema.js';
import { cooldownPhase } from '../core/cooldown.js';
import { readRestartSummary } from '../warden/supervisorLedger.js';
import type { Clock } from '../warden/types.js';
import type { Warden } from '../warden/warden.js';
import type { MetricsSources } from './metrics.js';

/** The warden's read-only views, as the metrics read them when scraped. */
export function metricsSourcesFor(warden: Warden, settings: Settings, clock: Clock): MetricsSources {
  const restartPolicy = restartPolicyFrom(settings);
  return {
    windowMs: warden.policy.windowMs,
    limiters() {
      const now = clock();
      const state = warden.readState();
      const phase = cooldownPhase(state, now, warden.policy);
      return [
        {
          labels: {},
          state,
          usage: warden.currentUsage(),
          cooldownRemainingMs: phase.phase === 'cooling' ? phase.remainingMs : 0,
          probeInFlight: phase.phase === 'half-open' && phase.probeInFlight,
        },
      ];
    },
    restarts: () => readRestartSummary(warden.db, restartPolicy, clock()),
  };
}
