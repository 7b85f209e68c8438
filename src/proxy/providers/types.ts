export type ProviderName = 'anthropic' | 'openai' | 'generic';

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

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
