import type { TokenMetric } from '../core/types.js';
import type { ReportedLimitsForBudget } from '../warden/types.js';
import type { ReportedLimits } from './providers/types.js';

/**
 * The upstream's reported limit for the token count the budget measures. Anthropic reports
 * input and output limits separately besides the combined one; OpenAI only the combined one,
 * so an input or output budget there follows no reported limit.
 */
export function limitsForBudget(limits: ReportedLimits, metric: TokenMetric): ReportedLimitsForBudget {
  const tokenLimit = metric === 'input' ? limits.inputTokenLimit : metric === 'output' ? limits.outputTokenLimit : limits.tokenLimit;
  return { tokenLimit: tokenLimit ?? null, requestLimit: limits.requestLimit ?? null };
}
