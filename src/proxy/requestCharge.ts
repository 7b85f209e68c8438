import { chargedInputEstimate } from '../core/cachedShare.js';
import { chargeFor, chargeRules, type RequestCharge } from '../core/chargeRules.js';
import { outputReservation, type OutputSettings } from '../core/outputEstimate.js';
import type { ProviderName } from './providers/types.js';
import type { RequestShape } from './providers/estimate.js';

/**
 * A request's charge by its provider's rule (core/chargeRules.ts): the input the upstream will
 * count (the estimate less the cached share expected, where cache reads are free), the learned
 * output for the local window, and for the reported limits the output the upstream holds while
 * the request runs (`max_tokens` where it pre-charges it, whatever the operator's cap on the
 * learned reservation: the upstream charges it all the same).
 */
export function requestCharge(
  provider: ProviderName,
  shape: RequestShape,
  learnedOutput: number | null,
  cachedShare: number | null,
  settings: OutputSettings,
): RequestCharge {
  const rule = chargeRules[provider];
  const inputTokens = rule.cacheReadsCount ? shape.inputTokens : chargedInputEstimate(shape.inputTokens, cachedShare);
  const outputCap = shape.generates ? (shape.declaredMaxTokens ?? settings.defaultMaxTokens) : 0;
  return chargeFor(rule, { inputTokens, outputCap, learnedOutput: outputReservation(shape, learnedOutput, settings) });
}
