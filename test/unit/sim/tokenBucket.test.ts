import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../../src/sim/tokenBucket.js';

describe('the simulated token bucket', () => {
  it('starts full and refills continuously: capacity per window, never above capacity', () => {
    const bucket = new TokenBucket(6_000, 6_000, 0);
    expect(bucket.available(0)).toBe(6_000);
    bucket.take(6_000, 0);
    expect(bucket.available(0)).toBe(0);
    expect(bucket.available(1_500)).toBe(1_500);
    expect(bucket.available(3_000)).toBe(3_000);
    expect(bucket.available(60_000)).toBe(6_000);
  });

  it('refuses a need that is not in the bucket, even when the bucket is not empty', () => {
    const bucket = new TokenBucket(6_000, 6_000, 0);
    bucket.take(5_500, 0);
    expect(bucket.available(0)).toBe(500);
    expect(bucket.fits(800, 0)).toBe(false);
    expect(bucket.fits(500, 0)).toBe(true);
    expect(bucket.msUntilFits(800, 0)).toBe(300);
    expect(bucket.fits(800, 300)).toBe(true);
  });

  it('says when it is full again (what *-reset reports), and gives back an unused reservation', () => {
    const bucket = new TokenBucket(6_000, 6_000, 0);
    bucket.take(3_000, 0);
    expect(bucket.msUntilFull(0)).toBe(3_000);
    bucket.giveBack(1_000, 0);
    expect(bucket.msUntilFull(0)).toBe(2_000);
    bucket.giveBack(10_000, 0);
    expect(bucket.available(0)).toBe(6_000);
  });

  it('lets a need larger than the whole bucket through only a full bucket', () => {
    const bucket = new TokenBucket(1_000, 1_000, 0);
    expect(bucket.fits(5_000, 0)).toBe(true);
    bucket.take(1, 0);
    expect(bucket.fits(5_000, 0)).toBe(false);
    expect(bucket.msUntilFits(5_000, 0)).toBe(1);
  });
});
