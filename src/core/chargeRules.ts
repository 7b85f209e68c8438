import type { TokenEstimate } from './types.js';

/**
 * How each upstream charges a request against the limits it reports, in one table per provider
 * that a reader can check against the provider's documents (docs/proxy.md, "Accounting as the
 * upstream accounts"). Per dimension (reported.ts needOn): `requests` one per request;
 * `input-tokens` the input charge; `output-tokens` the output charge; `tokens` both.
 */
export type ChargeProvider = 'anthropic' | 'openai' | 'generic';

/**
 * What admission charges a reported limit for output: `max-tokens`, the request's own cap, because
 * the upstream holds that much when the request starts; `learned`, the learned estimate.
 */
export type OutputCharge = 'max-tokens' | 'learned';

/**
 * What happens to the charge when the request ends: `refund-to-usage`, the upstream corrects it
 * to the real usage (the unused part comes back at once); `keep-charge`, nothing documented comes
 * back, so the charge stays counted until a newer report says otherwise (never less than used).
 */
export type SettleRule = 'refund-to-usage' | 'keep-charge';

export interface ChargeRule {
  /** Whether `cache_read_input_tokens` count against the input limit. */
  cacheReadsCount: boolean;
  /** Whether `cache_creation_input_tokens` count against the input limit. */
  cacheWritesCount: boolean;
  outputAtAdmission: OutputCharge;
  settle: SettleRule;
  /** Where the rule is written down. */
  docs: readonly string[];
}

export const chargeRules: Readonly<Record<ChargeProvider, ChargeRule>> = {
  // RPM 1 per request; ITPM input_tokens + cache_creation_input_tokens (cache reads are not
  // counted); OTPM estimated from max_tokens when the request starts, adjusted to the real
  // output when it ends.
  anthropic: {
    cacheReadsCount: false,
    cacheWritesCount: true,
    outputAtAdmission: 'max-tokens',
    settle: 'refund-to-usage',
    docs: ['https://docs.anthropic.com/en/api/rate-limits', 'https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching'],
  },
  // "Your rate limit is calculated as the maximum of max_tokens and the estimated number of
  // tokens based on the character count of your request": charged as prompt + max_tokens (the
  // larger reading of that sentence), and no refund is documented. Cached prompt tokens are part
  // of prompt_tokens and nothing says they are exempt.
  openai: {
    cacheReadsCount: true,
    cacheWritesCount: true,
    outputAtAdmission: 'max-tokens',
    settle: 'keep-charge',
    docs: ['https://platform.openai.com/docs/guides/rate-limits#error-mitigation'],
  },
  // Any other API: no documented rule, so the learned estimate, corrected to what was used.
  generic: { cacheReadsCount: true, cacheWritesCount: true, outputAtAdmission: 'learned', settle: 'refund-to-usage', docs: [] },
};

/**
 * What one request is charged. The local window budget (what ratewarden counts itself, for the
 * limits no report covers) reserves the input and the learned output; each limit the upstream
 * reports is charged the same input and the output of the upstream's own rule, so that
 * admission holds exactly what the upstream holds.
 */
export interface RequestCharge {
  window: TokenEstimate;
  reportedOutput: number;
}

export interface ChargeFacts {
  /** The input the upstream will count (cachedShare.ts: the learned cached share taken out where cache reads are free). */
  inputTokens: number;
  /** The request's `max_tokens` (or the default when it names none); 0 when it generates nothing. */
  outputCap: number;
  /** The learned output reservation (outputEstimate.ts). */
  learnedOutput: number;
}

export function chargeFor(rule: ChargeRule, facts: ChargeFacts): RequestCharge {
  return {
    window: { inputTokens: facts.inputTokens, outputTokens: facts.learnedOutput },
    reportedOutput: rule.outputAtAdmission === 'max-tokens' ? facts.outputCap : facts.learnedOutput,
  };
}

/** What a request is charged against the reported limits, as each dimension counts it (reported.ts needOn). */
export function reportedCharge(window: TokenEstimate, reportedOutput: number | undefined): TokenEstimate {
  return { inputTokens: window.inputTokens, outputTokens: reportedOutput ?? window.outputTokens };
}

/** Usage as an answer gives it: `inputTokens` is every input token, the cache parts are within it. */
export interface UsageParts extends TokenEstimate {
  cacheReadInputTokens?: number;
  cacheCreationInputTokens?: number;
}

/** The usage the upstream charges: the input without the parts its rule does not count. */
export function chargedUsage(rule: ChargeRule, usage: UsageParts): TokenEstimate {
  const free =
    (rule.cacheReadsCount ? 0 : (usage.cacheReadInputTokens ?? 0)) + (rule.cacheWritesCount ? 0 : (usage.cacheCreationInputTokens ?? 0));
  return { inputTokens: Math.max(0, usage.inputTokens - free), outputTokens: usage.outputTokens };
}

/** What the reported accounting still counts for a settled request that was charged `charged` and spent `spent`. */
export function settledCharge(settle: SettleRule, charged: TokenEstimate, spent: TokenEstimate): TokenEstimate {
  if (settle === 'refund-to-usage') return spent;
  return {
    inputTokens: Math.max(charged.inputTokens, spent.inputTokens),
    outputTokens: Math.max(charged.outputTokens, spent.outputTokens),
  };
}
