import type { UsageParts } from './chargeRules.js';

/**
 * The share of a request's input that the prompt cache will serve, learned from settled usage:
 * where cache reads are free of the input limit (Anthropic), that share of the estimated input
 * is not charged at admission. A conversation's prefix is what the cache hits, so a session's
 * last share predicts its next request best; a scope's lowest recent share stands in for a
 * session not seen yet. A cache entry lives five minutes after its last use (Anthropic's default
 * `ephemeral` lifetime): a share older than that says nothing, and the whole input is charged.
 */
export const promptCacheTtlMs = 300_000;

/** The share of an answer's input read from the cache, or null when the answer does not say. */
export function cachedShareOf(usage: UsageParts): number | null {
  if (usage.inputTokens <= 0 || usage.cacheReadInputTokens === undefined) return null;
  return Math.min(1, Math.max(0, usage.cacheReadInputTokens / usage.inputTokens));
}

/** The input the upstream will charge: the estimate less the share expected from the cache. */
export function chargedInputEstimate(estimatedInput: number, share: number | null): number {
  return Math.ceil(estimatedInput * (1 - Math.min(1, Math.max(0, share ?? 0))));
}

export interface ShareSample {
  at: number;
  share: number;
}

/** The share to expect: the session's own when it is fresh, else the lowest fresh one of its scope, else none (charge everything). */
export function expectedShare(session: ShareSample | undefined, scope: readonly ShareSample[], now: number): number | null {
  if (session !== undefined && now - session.at < promptCacheTtlMs) return session.share;
  const fresh = scope.filter((sample) => now - sample.at < promptCacheTtlMs);
  return fresh.length === 0 ? null : Math.min(...fresh.map((sample) => sample.share));
}
