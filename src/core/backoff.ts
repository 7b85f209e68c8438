import type { LimiterPolicy } from './types.js';

/** Rung `n` (1-based) of the ladder: min(base·2^(n−1), cap). */
export function ladderRungMs(n: number, policy: Pick<LimiterPolicy, 'backoffBaseMs' | 'backoffMaxMs'>): number {
  const level = Math.max(1, n);
  return Math.min(policy.backoffBaseMs * 2 ** (level - 1), policy.backoffMaxMs);
}

/** What jitter adds to a wait of `ms`: it only ever lengthens. `random` in [0, 1). */
export function backoffJitterMs(ms: number, policy: Pick<LimiterPolicy, 'backoffJitter'>, random: number): number {
  return Math.floor(ms * policy.backoffJitter * random);
}

/**
 * The ladder alone after upstream 429 number `n` in a row, or the upstream's Retry-After when
 * longer: an upper bound of the cooldown a 429 starts (cooldownLength.ts has the rule itself),
 * for refusing while a 429 cannot be recorded yet.
 */
export function cooldownLengthMs(
  n: number,
  retryAfterMs: number | null,
  policy: Pick<LimiterPolicy, 'backoffBaseMs' | 'backoffMaxMs' | 'backoffJitter'>,
  random: number,
): number {
  const scheduled = ladderRungMs(n, policy);
  return Math.max(scheduled + backoffJitterMs(scheduled, policy, random), retryAfterMs ?? 0);
}
