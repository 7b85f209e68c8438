import { breakerClosed, type SettlingRequest } from './settlement.js';
import type { LimiterState } from './types.js';

/**
 * The half-open probe is judged by its response status when the head arrives, not when its body
 * ends: a stream may run for a minute, and the upstream said yes (or no) at its first byte. A 2xx
 * closes the breaker and starts recovery, so the requests waiting behind it go at once; any
 * other status but 429 (recorded as an upstream 429 on its own path) proves nothing about the
 * rate limit, and lets the next request probe. A request that is not the current probe changes
 * nothing here: its success counts when it settles, as before.
 */
export function judgeProbeAtHead(
  state: LimiterState,
  request: Pick<SettlingRequest, 'id' | 'probe'>,
  status: number,
  now: number,
): LimiterState {
  if (!request.probe || state.probeRequestId !== request.id || status === 429) return state;
  if (status >= 200 && status < 300) {
    return breakerClosed(state, now);
  }
  return { ...state, probeRequestId: null, probeStartedAt: null };
}
