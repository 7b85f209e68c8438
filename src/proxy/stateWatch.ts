import { cooldownPhase } from '../core/cooldown.js';
import type { LimiterPolicy, LimiterState } from '../core/types.js';
import { formatDuration } from '../config/durations.js';

/** What the log reports about the limiter between two looks at its durable state. */
export interface LimiterView {
  breaker: 'closed' | 'cooling' | 'half-open';
  tokenBudget: number | null;
  requestBudget: number | null;
}

export interface StateEvent {
  event: 'cooldown-end' | 'breaker-closed' | 'budget-change';
  message: string;
}

export function viewOf(state: LimiterState, now: number, policy: Pick<LimiterPolicy, 'probeTimeoutMs'>): LimiterView {
  return { breaker: cooldownPhase(state, now, policy).phase, tokenBudget: state.tokenBudget, requestBudget: state.requestBudget };
}

function budgetText(value: number | null): string {
  return value === null ? 'none' : String(value);
}

/**
 * Cooldown starts are logged where the upstream 429 is seen; this reports what only shows in
 * the state: a cooldown running out, the breaker closing (a probe succeeded, or an operator
 * reset it), and budget changes from any source (reported limits, the controller, a 429 cut).
 */
export function stateEvents(before: LimiterView, after: LimiterView, windowMs: number): StateEvent[] {
  const events: StateEvent[] = [];
  if (before.breaker === 'cooling' && after.breaker === 'half-open') {
    events.push({ event: 'cooldown-end', message: 'cooldown over; the next request goes upstream alone, as a probe' });
  }
  if (before.breaker !== 'closed' && after.breaker === 'closed') {
    events.push({ event: 'breaker-closed', message: 'cooldown cleared; requests flow to the upstream again' });
  }
  const window = formatDuration(windowMs);
  if (before.tokenBudget !== after.tokenBudget) {
    events.push({ event: 'budget-change', message: `token budget ${budgetText(before.tokenBudget)} → ${budgetText(after.tokenBudget)} per ${window} window` });
  }
  if (before.requestBudget !== after.requestBudget) {
    events.push({ event: 'budget-change', message: `request budget ${budgetText(before.requestBudget)} → ${budgetText(after.requestBudget)} per ${window} window` });
  }
  return events;
}
