import type { Dimension, Report } from '../core/reported.js';
import type { TokenMetric } from '../core/types.js';
import type { ReportedLimitsForBudget } from '../warden/types.js';
import type { ProviderName, ReportedLimits } from './providers/types.js';

/**
 * The upstream's reported limit for the token count the budget measures. Anthropic reports
 * input and output limits separately besides the combined one; OpenAI only the combined one,
 * so an input or output budget there follows no reported limit.
 */
export function limitsForBudget(limits: ReportedLimits, metric: TokenMetric): ReportedLimitsForBudget {
  const tokenLimit = metric === 'input' ? limits.inputTokenLimit : metric === 'output' ? limits.outputTokenLimit : limits.tokenLimit;
  return { tokenLimit: tokenLimit ?? null, requestLimit: limits.requestLimit ?? null };
}

/** Anthropic rounds its token counts to the nearest thousand: what it reports may be up to 500 above the truth. */
const anthropicTokenRounding = 500;

/**
 * What the headers say is left of each limit, as reports to adopt. A dimension counts only when
 * both its remaining and its reset were given: without the reset the refill cannot be timed.
 */
export function reportsFrom(provider: ProviderName, limits: ReportedLimits, now: number): Report[] {
  const slack = (dimension: Dimension): number => (provider === 'anthropic' && dimension !== 'requests' ? anthropicTokenRounding : 0);
  const candidates: [Dimension, number | undefined, number | undefined, number | undefined][] = [
    ['tokens', limits.tokenLimit, limits.tokenRemaining, limits.tokenResetMs],
    ['input-tokens', limits.inputTokenLimit, limits.inputTokenRemaining, limits.inputTokenResetMs],
    ['output-tokens', limits.outputTokenLimit, limits.outputTokenRemaining, limits.outputTokenResetMs],
    ['requests', limits.requestLimit, limits.requestRemaining, limits.requestResetMs],
  ];
  const reports: Report[] = [];
  for (const [dimension, limit, remaining, resetMs] of candidates) {
    if (remaining === undefined || resetMs === undefined) continue;
    reports.push({
      dimension,
      limit: limit ?? null,
      remaining,
      resetAt: now + resetMs,
      roundingSlack: slack(dimension),
      refill: provider === 'anthropic' ? 'bucket' : 'window',
    });
  }
  return reports;
}
