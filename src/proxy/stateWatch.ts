import { cooldownPhase } from '../core/cooldown.js';
import type { LimiterPolicy, LimiterState } from '../core/types.js';

/** What the log reports about the limiter between two looks at its durable state. */
export interface LimiterView {
  breaker: 'closed' | 'cooling' | 'half-open';
}

export interface StateEvent {
  event: 'cooldown-end' | 'breaker-closed';
  message: string;
}

export function viewOf(state: LimiterState, now: number, policy: Pick<LimiterPolicy, 'probeTimeoutMs'>): LimiterView {
  return { breaker: cooldownPhase(state, now, policy).phase };
}

/**
 * Cooldown starts are logged where the upstream 429 is seen; this reports what only shows in
 * the state: a cooldown running out, the breaker closing (a probe succeeded, or an operator
 * reset it). Budget changes are logged with their why by the process that made them
 * (budgetLog.ts).
 */
export function stateEvents(before: LimiterView, after: LimiterView): StateEvent[] {
  const events: StateEvent[] = [];
  if (before.breaker === 'cooling' && after.breaker === 'half-open') {
    events.push({ event: 'cooldown-end', message: 'cooldown over; the next request goes upstream alone, as a probe' });
  }
  if (before.breaker !== 'closed' && after.breaker === 'closed') {
    events.push({ event: 'breaker-closed', message: 'cooldown cleared; requests flow to the upstream again' });
  }
  return events;
}
