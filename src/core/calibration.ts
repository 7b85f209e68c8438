import type { LimiterPolicy } from './types.js';

/** What a calibration sample says, before it is stored. */
export type SampleKind = 'upstream-429' | 'reported-limit' | 'window';

export interface CalibrationSample {
  at: number;
  kind: SampleKind;
  tokens: number;
  requests: number;
  windowMs: number;
  retryAfterMs: number | null;
  limitTokens: number | null;
  limitRequests: number | null;
}

/**
 * A sample with no tokens carries no signal about the limit — it is what a just-restarted proxy
 * sees — and would drag every estimate towards zero. It is never recorded.
 */
export function acceptSample(sample: CalibrationSample): CalibrationSample | null {
  return sample.tokens > 0 ? sample : null;
}

/** The sample to store: acceptSample's answer, unless the policy unsafely keeps zero-token ones. */
export function sampleToRecord(
  sample: CalibrationSample,
  policy: Pick<LimiterPolicy, 'unsafeRecordZeroTokenSamples'>,
): CalibrationSample | null {
  return policy.unsafeRecordZeroTokenSamples === true ? sample : acceptSample(sample);
}

export interface SampleSummary {
  kind: SampleKind;
  count: number;
  /** Tokens in the window at the sample, over the non-zero samples of this kind. */
  medianTokens: number | null;
  maxTokens: number | null;
  minTokens: number | null;
}

export interface LimitEstimate {
  tokens: number | null;
  requests: number | null;
  basis: 'reported-limit' | 'upstream-429' | 'lower-bound' | 'none';
  samples: number;
  explanation: string;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : Math.round(((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2);
}

/**
 * The upstream's real limit: what it reports when it does; else the median usage at which it
 * answered 429; else, from windows that passed without a 429, a lower bound only.
 */
export function estimateLimit(
  reported: { tokens: number | null; requests: number | null },
  summaries: readonly SampleSummary[],
): LimitEstimate {
  const of = (kind: SampleKind): SampleSummary | undefined => summaries.find((summary) => summary.kind === kind && summary.count > 0);
  if (reported.tokens !== null || reported.requests !== null) {
    const count = of('reported-limit')?.count ?? 0;
    return {
      tokens: reported.tokens,
      requests: reported.requests,
      basis: 'reported-limit',
      samples: count,
      explanation: `the upstream's own rate-limit headers (${count} samples recorded)`,
    };
  }
  const at429 = of('upstream-429');
  if (at429 !== undefined) {
    return {
      tokens: at429.medianTokens,
      requests: null,
      basis: 'upstream-429',
      samples: at429.count,
      explanation: `median window usage at ${at429.count} upstream 429s (range ${at429.minTokens}–${at429.maxTokens})`,
    };
  }
  const windows = of('window');
  if (windows !== undefined) {
    return {
      tokens: windows.maxTokens,
      requests: null,
      basis: 'lower-bound',
      samples: windows.count,
      explanation: `at least ${windows.maxTokens}: the busiest of ${windows.count} windows passed without a 429`,
    };
  }
  return { tokens: null, requests: null, basis: 'none', samples: 0, explanation: 'no samples yet' };
}
