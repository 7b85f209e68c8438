import { estimateLimit, type LimitEstimate, type SampleKind, type SampleSummary } from './calibration.js';

export const sampleKinds: readonly SampleKind[] = ['upstream-429', 'reported-limit', 'window'];

/** Every stored sample of a kind, zero-token ones included. */
export interface SampleCount {
  kind: SampleKind;
  count: number;
  zeroTokens: number;
}

export interface KindReport {
  kind: SampleKind;
  /** Every stored sample of this kind. */
  count: number;
  zeroTokens: number;
  /** Over the non-zero samples: the ones the estimate uses. */
  medianTokens: number | null;
  minTokens: number | null;
  maxTokens: number | null;
}

export interface CalibrationReport {
  samples: number;
  zeroTokenSamples: number;
  /** Always the three kinds, in the same order. */
  byKind: KindReport[];
  estimate: LimitEstimate;
}

export function calibrationReport(
  counts: readonly SampleCount[],
  summaries: readonly SampleSummary[],
  reported: { tokens: number | null; requests: number | null },
): CalibrationReport {
  const byKind = sampleKinds.map((kind): KindReport => {
    const count = counts.find((row) => row.kind === kind);
    const summary = summaries.find((row) => row.kind === kind);
    return {
      kind,
      count: count?.count ?? 0,
      zeroTokens: count?.zeroTokens ?? 0,
      medianTokens: summary?.medianTokens ?? null,
      minTokens: summary?.minTokens ?? null,
      maxTokens: summary?.maxTokens ?? null,
    };
  });
  return {
    samples: byKind.reduce((sum, kind) => sum + kind.count, 0),
    zeroTokenSamples: byKind.reduce((sum, kind) => sum + kind.zeroTokens, 0),
    byKind,
    estimate: estimateLimit(reported, summaries),
  };
}
