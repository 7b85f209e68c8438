import { describe, expect, it } from 'vitest';
import { cachedAfterShareOf, cachedShareOf, chargedInputEstimate, expectedShare, promptCacheTtlMs } from '../../../src/core/cachedShare.js';

const now = 1_700_000_000_000;

describe('the cached share of the input', () => {
  it('read from the cache, and in the cache afterwards (read or written), as shares of the whole input', () => {
    expect(cachedShareOf({ inputTokens: 30_000, outputTokens: 10, cacheReadInputTokens: 27_000 })).toBe(0.9);
    expect(cachedShareOf({ inputTokens: 30_000, outputTokens: 10 })).toBeNull();
    expect(cachedShareOf({ inputTokens: 0, outputTokens: 10, cacheReadInputTokens: 0 })).toBeNull();
    expect(cachedAfterShareOf({ inputTokens: 20_000, outputTokens: 10, cacheCreationInputTokens: 19_000 })).toBe(0.95);
    expect(
      cachedAfterShareOf({ inputTokens: 20_000, outputTokens: 10, cacheReadInputTokens: 15_000, cacheCreationInputTokens: 4_000 }),
    ).toBe(0.95);
    expect(cachedAfterShareOf({ inputTokens: 20_000, outputTokens: 10 })).toBe(0);
  });

  it('is taken out of the estimate: a mostly cached context holds only what the upstream charges', () => {
    expect(chargedInputEstimate(30_000, 0.9)).toBe(3_000);
    expect(chargedInputEstimate(30_000, null)).toBe(30_000);
    expect(chargedInputEstimate(30_000, 1)).toBe(0);
  });

  it("a session's next turn expects its last turn's cached part, scaled to the turn's larger size", () => {
    // The last turn, estimated at 20 000, left 95 % in the cache; this one repeats it and adds 5 000.
    const turn = { at: now - 10_000, cachedAfterShare: 0.95, estimatedInput: 20_000 };
    expect(expectedShare(turn, [], 25_000, now)).toBeCloseTo(0.76);
    // A shorter prompt (the conversation was compacted) expects no more than the last share.
    expect(expectedShare(turn, [], 10_000, now)).toBe(0.95);
  });

  it("falls back to the scope's lowest fresh read share, and to none once the cache's lifetime has passed", () => {
    const scope = [
      { at: now - 1_000, share: 0.8 },
      { at: now - 2_000, share: 0.4 },
      { at: now - promptCacheTtlMs - 1, share: 0 },
    ];
    const silent = { at: now - promptCacheTtlMs, cachedAfterShare: 0.95, estimatedInput: 20_000 };
    expect(expectedShare(silent, scope, 20_000, now)).toBe(0.4);
    expect(expectedShare(undefined, scope, 20_000, now)).toBe(0.4);
    expect(expectedShare({ ...silent, at: now, cachedAfterShare: 0 }, scope, 20_000, now)).toBe(0.4);
    expect(expectedShare(undefined, [{ at: now - promptCacheTtlMs, share: 0.9 }], 20_000, now)).toBeNull();
    expect(expectedShare(undefined, [], 20_000, now)).toBeNull();
  });
});
