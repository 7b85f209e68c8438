import { describe, expect, it } from 'vitest';
import { cooldownLengthMs } from '../../../src/core/backoff.js';
import { defaultLimiterPolicy } from '../../../src/core/types.js';
import { policyWith } from '../../helpers/limiterFixtures.js';

describe('backoff schedule', () => {
  it('doubles from 30 s and stays at the 300 s cap', () => {
    const schedule = [1, 2, 3, 4, 5, 6, 7, 20].map((n) => cooldownLengthMs(n, null, defaultLimiterPolicy, 0));
    expect(schedule).toEqual([30_000, 60_000, 120_000, 240_000, 300_000, 300_000, 300_000, 300_000]);
  });

  it('does not overflow past the cap for a very long run of 429s', () => {
    expect(cooldownLengthMs(10_000, null, defaultLimiterPolicy, 0)).toBe(300_000);
  });

  it('treats a count below one as the first 429', () => {
    expect(cooldownLengthMs(0, null, defaultLimiterPolicy, 0)).toBe(30_000);
  });

  it('follows a configured base and cap', () => {
    const policy = policyWith({ backoffBaseMs: 100, backoffMaxMs: 500 });
    expect([1, 2, 3, 4, 5].map((n) => cooldownLengthMs(n, null, policy, 0))).toEqual([100, 200, 400, 500, 500]);
  });

  it("uses the upstream's Retry-After when it is longer than the schedule", () => {
    expect(cooldownLengthMs(1, 45_000, defaultLimiterPolicy, 0)).toBe(45_000);
    expect(cooldownLengthMs(5, 900_000, defaultLimiterPolicy, 0)).toBe(900_000);
  });

  it('keeps the schedule when Retry-After is shorter', () => {
    expect(cooldownLengthMs(2, 5_000, defaultLimiterPolicy, 0)).toBe(60_000);
    expect(cooldownLengthMs(1, 0, defaultLimiterPolicy, 0)).toBe(30_000);
  });
});

describe('backoff jitter', () => {
  it('is off by default: the random draw changes nothing', () => {
    expect(defaultLimiterPolicy.backoffJitter).toBe(0);
    for (const random of [0, 0.25, 0.5, 0.999_999]) {
      expect(cooldownLengthMs(3, null, defaultLimiterPolicy, random)).toBe(120_000);
    }
  });

  it('only ever lengthens the cooldown, by at most the jitter share', () => {
    const policy = policyWith({ backoffJitter: 0.5 });
    for (let n = 1; n <= 6; n++) {
      const scheduled = cooldownLengthMs(n, null, defaultLimiterPolicy, 0);
      for (const random of [0, 0.1, 0.5, 0.9, 0.999_999]) {
        const jittered = cooldownLengthMs(n, null, policy, random);
        expect(jittered).toBeGreaterThanOrEqual(scheduled);
        expect(jittered).toBeLessThan(scheduled * 1.5);
      }
    }
    expect(cooldownLengthMs(1, null, policy, 0)).toBe(30_000);
    expect(cooldownLengthMs(1, null, policy, 0.5)).toBe(37_500);
  });

  it('never shortens a longer Retry-After', () => {
    const policy = policyWith({ backoffJitter: 1 });
    expect(cooldownLengthMs(1, 100_000, policy, 0.5)).toBe(100_000);
    expect(cooldownLengthMs(1, 40_000, policy, 0.5)).toBe(45_000);
  });
});
