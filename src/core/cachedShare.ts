import type { UsageParts } from './chargeRules.js';

/**
 * The share of a request's input that the prompt cache will serve, learned from settled usage:
 * where cache reads are free of the input limit (Anthropic), that share of the estimated input
 * is not charged at admission, and the settle corrects it to what the upstream counted.
 *
 * A conversation's prefix is what the cache hits: what one turn of a session read from the cache
 * or wrote to it is in the cache for its next turn, which repeats it and adds the new messages.
 * So a session's next share is its last turn's cached part, scaled to the new turn's larger
 * estimate. A session not seen yet gets the lowest share its scope's recent answers read from
 * the cache. A cache entry lives five minutes after its last use (Anthropic's default
 * `ephemeral` lifetime): anything older says nothing, and the whole input is charged.
 */
export const promptCacheTtlMs = 300_000;

/** The share of an answer's input read from the cache, or null when the answer does not say. */
export function cachedShareOf(usage: UsageParts): number | null {
  if (usage.inputTokens <= 0 || usage.cacheReadInputTokens === undefined) return null;
  return clampShare(usage.cacheReadInputTokens / usage.inputTokens);
}

/** The share of an answer's input that is in the cache afterwards (read from it or written to it). */
export function cachedAfterShareOf(usage: UsageParts): number {
  if (usage.inputTokens <= 0) return 0;
  return clampShare(((usage.cacheReadInputTokens ?? 0) + (usage.cacheCreationInputTokens ?? 0)) / usage.inputTokens);
}

/** The input the upstream will charge: the estimate less the share expected from the cache. */
export function chargedInputEstimate(estimatedInput: number, share: number | null): number {
  return Math.ceil(estimatedInput * (1 - clampShare(share ?? 0)));
}

export interface ShareSample {
  at: number;
  share: number;
}

/** What a session's last settled turn left in the cache: its cached share and its own input estimate. */
export interface SessionTurn {
  at: number;
  cachedAfterShare: number;
  estimatedInput: number;
}

/** The share of `estimatedInput` to expect from the cache, or null: charge it all. */
export function expectedShare(
  session: SessionTurn | undefined,
  scope: readonly ShareSample[],
  estimatedInput: number,
  now: number,
): number | null {
  if (session !== undefined && now - session.at < promptCacheTtlMs && session.cachedAfterShare > 0) {
    return session.cachedAfterShare * Math.min(1, session.estimatedInput / Math.max(1, estimatedInput));
  }
  const fresh = scope.filter((sample) => now - sample.at < promptCacheTtlMs);
  return fresh.length === 0 ? null : Math.min(...fresh.map((sample) => sample.share));
}

function clampShare(share: number): number {
  return Math.min(1, Math.max(0, share));
}
