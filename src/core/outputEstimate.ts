/**
 * The output reservation: what a request will most likely generate, learned per model from
 * settled requests, instead of the `max_tokens` it may generate (Claude Code asks for 128 000 on
 * every request and uses a few hundred). A reservation that is too small is corrected at settle;
 * the percentile keeps that rare.
 */

/** The share of settled requests whose output fits in the learned reservation. */
export const outputPercentile = 0.95;

/** Fewer samples than this say too little about a model's tail: the cap stands alone. */
export const minOutputSamples = 10;

/** Only the latest samples per model count, so that the estimate follows a change of workload. */
export const outputSampleLimit = 200;

/** The `p` quantile (nearest rank, rounding up) of samples; null when there are too few. */
export function learnedOutput(samples: readonly number[], p: number = outputPercentile): number | null {
  if (samples.length < minOutputSamples) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank] ?? null;
}

export interface OutputRequest {
  /** False for endpoints that generate nothing (token counting, model listings). */
  generates: boolean;
  /** The request's own `max_tokens` (or its OpenAI spellings), when it gives one. */
  declaredMaxTokens: number | null;
}

export interface OutputSettings {
  /** Reserved for a request that gives no `max_tokens`, before anything is learned. */
  defaultMaxTokens: number;
  /** The operator's cap on any output reservation; null for none. */
  outputReserveMax: number | null;
}

/** The output tokens reserved at admission: never above the request's `max_tokens` nor the cap. */
export function outputReservation(request: OutputRequest, learned: number | null, settings: OutputSettings): number {
  if (!request.generates) return 0;
  const ceiling = request.declaredMaxTokens ?? settings.defaultMaxTokens;
  const candidates = [ceiling, learned ?? ceiling, settings.outputReserveMax ?? ceiling];
  return Math.max(0, Math.min(...candidates));
}
