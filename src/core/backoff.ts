import type { LimiterPolicy } from './types.js';

/**
 * Cooldown after upstream 429 number `n` (1-based) in a row: min(base·2^(n−1), cap), or the
 * upstream's own Retry-After when longer. Jitter only ever lengthens: `random` in [0, 1).
 */
export function cooldownLengthMs(
  n: number,
  retryAfterMs: number | null,
  policy: Pick<LimiterPolicy, 'backoffBaseMs' | 'backoffMaxMs' | 'backoffJitter'>,
  random: number,
): number {
  const level = Math.max(1, n);
  const scheduled = Math.min(policy.backoffBaseMs * 2 ** (level - 1), policy.backoffMaxMs);
  const jittered = scheduled + Math.floor(scheduled * policy.backoffJitter * random);
  return Math.max(jittered, retryAfterMs ?? 0);
}
