import { describe, expect, it } from 'vitest';
import {
  acceptSample,
  estimateLimit,
  median,
  sampleToRecord,
  type CalibrationSample,
  type SampleSummary,
} from '../../../src/core/calibration.js';
import { unknownBlame } from '../../../src/core/controller.js';
import { onUpstream429 } from '../../../src/core/settlement.js';
import { policyWith, stateWith } from '../../helpers/limiterFixtures.js';

const sample = (overrides: Partial<CalibrationSample>): CalibrationSample => ({
  at: 1_700_000_000_000,
  kind: 'upstream-429',
  tokens: 1_000,
  requests: 10,
  windowMs: 60_000,
  retryAfterMs: null,
  limitTokens: null,
  limitRequests: null,
  ...overrides,
});

const summary = (overrides: Partial<SampleSummary> & Pick<SampleSummary, 'kind'>): SampleSummary => ({
  count: 1,
  medianTokens: 1_000,
  maxTokens: 1_000,
  minTokens: 1_000,
  ...overrides,
});

describe('calibration samples', () => {
  it('refuses a sample with zero tokens, whatever its kind or request count', () => {
    for (const kind of ['upstream-429', 'reported-limit', 'window'] as const) {
      expect(acceptSample(sample({ kind, tokens: 0, requests: 5 }))).toBeNull();
    }
  });

  it("stores no zero-token sample under the default policy; only the demo's unsafe switch keeps one", () => {
    const empty = sample({ kind: 'window', tokens: 0 });
    expect(sampleToRecord(empty, policyWith())).toBeNull();
    expect(sampleToRecord(empty, policyWith({ unsafeRecordZeroTokenSamples: true }))).toBe(empty);
    expect(sampleToRecord(sample({ tokens: 5 }), policyWith())).toMatchObject({ tokens: 5 });
  });

  it('accepts a sample with tokens unchanged', () => {
    const accepted = sample({ tokens: 1 });
    expect(acceptSample(accepted)).toBe(accepted);
  });

  it('records no sample at a 429 that found the window empty', () => {
    const request = { id: 1, admittedAt: 1_700_000_000_000, probe: false, estimate: { inputTokens: 0, outputTokens: 0 } };
    const decision = onUpstream429(
      stateWith(),
      request,
      null,
      { tokens: 0, requests: 1 },
      unknownBlame,
      1_700_000_000_500,
      policyWith(),
      0,
    );
    expect(decision.sample).toBeNull();
    expect(decision.escalated).toBe(true);
  });

  it('records the window usage and the Retry-After at a 429', () => {
    const request = { id: 1, admittedAt: 1_700_000_000_000, probe: false, estimate: { inputTokens: 10, outputTokens: 10 } };
    const decision = onUpstream429(
      stateWith(),
      request,
      12_000,
      { tokens: 4_000, requests: 9 },
      unknownBlame,
      1_700_000_000_500,
      policyWith(),
      0,
    );
    expect(decision.sample).toMatchObject({ kind: 'upstream-429', tokens: 4_000, requests: 9, retryAfterMs: 12_000, windowMs: 60_000 });
  });
});

describe('median', () => {
  it('is the middle value, or the rounded mean of the two middle ones', () => {
    expect(median([])).toBeNull();
    expect(median([5])).toBe(5);
    expect(median([9, 1, 5])).toBe(5);
    expect(median([1, 2, 3, 10])).toBe(3);
    expect(median([1, 2])).toBe(2);
  });
});

describe('limit estimate', () => {
  it("prefers the upstream's reported limits, with the number of samples behind them", () => {
    const estimate = estimateLimit({ tokens: 40_000, requests: 50 }, [
      summary({ kind: 'reported-limit', count: 7 }),
      summary({ kind: 'upstream-429', count: 3 }),
    ]);
    expect(estimate).toMatchObject({ tokens: 40_000, requests: 50, basis: 'reported-limit', samples: 7 });
  });

  it('falls back to the median window usage at upstream 429s', () => {
    const estimate = estimateLimit({ tokens: null, requests: null }, [
      summary({ kind: 'window', count: 40, maxTokens: 9_000 }),
      summary({ kind: 'upstream-429', count: 5, medianTokens: 12_000, minTokens: 11_000, maxTokens: 14_000 }),
    ]);
    expect(estimate).toMatchObject({ tokens: 12_000, basis: 'upstream-429', samples: 5 });
    expect(estimate.explanation).toMatch(/5 upstream 429s/);
  });

  it('without a 429, offers the busiest quiet window as a lower bound only', () => {
    const estimate = estimateLimit({ tokens: null, requests: null }, [
      summary({ kind: 'window', count: 12, maxTokens: 9_000, medianTokens: 4_000 }),
    ]);
    expect(estimate).toMatchObject({ tokens: 9_000, basis: 'lower-bound', samples: 12 });
  });

  it('ignores kinds with no samples', () => {
    const estimate = estimateLimit({ tokens: null, requests: null }, [summary({ kind: 'upstream-429', count: 0, medianTokens: null })]);
    expect(estimate).toMatchObject({ tokens: null, basis: 'none', samples: 0 });
  });
});
