import { cooldownPhase } from '../core/cooldown.js';
import type { LimiterPolicy, LimiterState } from '../core/types.js';
import { StoreUnavailableError } from '../store/unavailable.js';
import type { Clock } from '../kernel/clock.js';
import type { Warden } from '../warden/warden.js';

export type HealthReport = { status: 'ok' | 'unavailable' | 'stopping' } & Record<string, unknown>;

export interface HealthSource {
  warden: Warden;
  policy: LimiterPolicy;
  clock: Clock;
  startedAt: number;
  identity: { url: string; upstream: string; provider: string };
  /** Writes the heartbeat: a health check that passes proves the store can be written. */
  beat(): Promise<void>;
  inFlight(): number;
  stopping(): boolean;
  /** The scopes not closed at the ticker's last look, from memory: the health check reads no scope from the store (issue 26 item 4). */
  unsettled(): ReadonlyMap<string, LimiterState>;
}

/** What `GET /_ratewarden/health` answers: ready (200), or why not (503). */
export async function healthReport(source: HealthSource): Promise<HealthReport> {
  if (source.stopping()) return { status: 'stopping', pid: process.pid };
  try {
    await source.warden.maintain();
    await source.beat();
    const now = source.clock();
    // The breaker the health check names is the worst of the scopes the ticker saw cooling or probing:
    // read from memory, so that its cost does not follow the number of scopes (a liveness check must stay fast).
    const phases = [...source.unsettled().values()].map((state) => cooldownPhase(state, now, source.policy));
    const cooling = phases.filter((candidate) => candidate.phase === 'cooling');
    const phase = cooling.sort((a, b) => (b.phase === 'cooling' ? b.remainingMs : 0) - (a.phase === 'cooling' ? a.remainingMs : 0))[0] ??
      phases.find((candidate) => candidate.phase === 'half-open') ?? { phase: 'closed' as const };
    return {
      status: 'ok',
      pid: process.pid,
      ...source.identity,
      uptimeMs: now - source.startedAt,
      breaker: phase.phase,
      cooldownRemainingMs: phase.phase === 'cooling' ? phase.remainingMs : 0,
      inFlight: source.inFlight(),
    };
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    return { status: 'unavailable', pid: process.pid, error: error.message };
  }
}
