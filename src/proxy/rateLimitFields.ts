import type { RejectReason } from '../core/admission.js';
import type { WindowUsage } from '../core/types.js';
import { boundedWaitMs } from './providers/headerBounds.js';

export interface RefusalFacts {
  reason: RejectReason;
  retryAfterMs: number;
  windowMs: number;
  tokenBudget: number | null;
  requestBudget: number | null;
  /** Usage in the window now; not needed during a cooldown, when nothing remains. */
  usage: WindowUsage | null;
}

interface Quota {
  name: 'tokens' | 'requests';
  budget: number;
  used: number;
}

/** Whole seconds, rounded up, never 0: a client told "0" retries at once. */
export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}

/**
 * The headers of a local 429: `retry-after` (seconds) and `retry-after-ms`, the reason, and the
 * IETF RateLimit-Policy / RateLimit fields (draft-ietf-httpapi-ratelimit-headers) for each
 * budget in force. The "tokens" policy counts the configured token metric.
 */
export function refusalHeaders(facts: RefusalFacts): Record<string, string> {
  // A cooldown stored before header values were clamped may still be absurd: never say more than a day, never Infinity.
  const retryAfterMs = boundedWaitMs(facts.retryAfterMs);
  const seconds = retryAfterSeconds(retryAfterMs);
  const headers: Record<string, string> = {
    'retry-after': String(seconds),
    'retry-after-ms': String(Math.max(1, retryAfterMs)),
    'x-ratewarden-reason': facts.reason,
  };
  const quotas: Quota[] = [];
  if (facts.tokenBudget !== null) quotas.push({ name: 'tokens', budget: facts.tokenBudget, used: facts.usage?.tokens ?? 0 });
  if (facts.requestBudget !== null) quotas.push({ name: 'requests', budget: facts.requestBudget, used: facts.usage?.requests ?? 0 });
  const windowSeconds = Math.max(1, Math.ceil(facts.windowMs / 1000));
  const remaining = (quota: Quota): number => (facts.reason === 'cooldown' ? 0 : Math.max(0, quota.budget - quota.used));
  if (quotas.length > 0) {
    headers['ratelimit-policy'] = quotas.map((quota) => `"${quota.name}";q=${quota.budget};w=${windowSeconds}`).join(', ');
    headers.ratelimit = quotas.map((quota) => `"${quota.name}";r=${remaining(quota)};t=${seconds}`).join(', ');
  } else {
    // Before any budget is known only the cooldown limits traffic: it is its own, empty, quota.
    headers.ratelimit = `"cooldown";r=0;t=${seconds}`;
  }
  return headers;
}
