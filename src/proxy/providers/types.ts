export type ProviderName = 'anthropic' | 'openai' | 'generic';

/** `inputTokens` is every input token; the cache parts, when an answer names them, are within it (core/chargeRules.ts UsageParts). */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens?: number;
  cacheCreationInputTokens?: number;
}

/** The answer carried usage, but not as counts: the request keeps its reservation. */
export const unreadableUsage = 'unreadable';

/** What an answer says it used: counts, unreadable usage, or none at all (null). */
export type UsageReading = TokenUsage | typeof unreadableUsage | null;

/** Only what the upstream actually said: every field is absent unless a header carried it. */
export interface ReportedLimits {
  tokenLimit?: number;
  tokenRemaining?: number;
  /** Milliseconds from `now` until the token limit is fully replenished. */
  tokenResetMs?: number;
  inputTokenLimit?: number;
  inputTokenRemaining?: number;
  inputTokenResetMs?: number;
  outputTokenLimit?: number;
  outputTokenRemaining?: number;
  outputTokenResetMs?: number;
  requestLimit?: number;
  requestRemaining?: number;
  /** Milliseconds from `now` until the request limit is fully replenished. */
  requestResetMs?: number;
  retryAfterMs?: number;
}

export interface RequestEstimate {
  inputTokens: number;
  outputTokens: number;
}
