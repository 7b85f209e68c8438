import { describe, expect, it } from 'vitest';
import type { UsageBucket } from '../../../src/core/types.js';
import { bucketStartFor, bucketWidthFor, msUntilRoom, oldestBucketInWindow, sumWindow, tokensOf } from '../../../src/core/window.js';
import { BucketLedger } from '../../helpers/limiterFixtures.js';

const bucket = (start: number, inputTokens: number, outputTokens: number, requests = 1): UsageBucket => ({
  start,
  inputTokens,
  outputTokens,
  requests,
});
const total = (b: UsageBucket): number => tokensOf(b, 'total');

describe('bucket width', () => {
  it('is a hundredth of the window, never over 1 s and never under 10 ms', () => {
    expect(bucketWidthFor(60_000)).toBe(600);
    expect(bucketWidthFor(600_000)).toBe(1_000);
    expect(bucketWidthFor(3_600_000)).toBe(1_000);
    expect(bucketWidthFor(1_000)).toBe(10);
    expect(bucketWidthFor(200)).toBe(10);
  });

  it('puts a moment in the bucket that starts at or before it', () => {
    expect(bucketStartFor(1_234, 600)).toBe(1_200);
    expect(bucketStartFor(1_200, 600)).toBe(1_200);
    expect(bucketStartFor(1_199, 600)).toBe(600);
  });
});

describe('sliding window', () => {
  it('counts usage for the whole window after it happened — never ages it out early', () => {
    const windowMs = 1_000;
    const width = bucketWidthFor(windowMs);
    for (let at = 5_000; at < 5_000 + 3 * width; at++) {
      const ledger = new BucketLedger(windowMs);
      ledger.record(at, 7, 0);
      for (let now = at; now < at + windowMs; now++) {
        expect(sumWindow(ledger.inWindow(now), 'total').tokens, `event at ${at}, now ${now}`).toBe(7);
      }
    }
  });

  it('ages usage out at most one bucket late', () => {
    const windowMs = 1_000;
    const width = bucketWidthFor(windowMs);
    for (let at = 5_000; at < 5_000 + 3 * width; at++) {
      const ledger = new BucketLedger(windowMs);
      ledger.record(at, 7, 0);
      const leaves = bucketStartFor(at, width) + width + windowMs;
      expect(leaves - at).toBeLessThanOrEqual(windowMs + width);
      expect(sumWindow(ledger.inWindow(leaves - 1), 'total').tokens).toBe(7);
      expect(sumWindow(ledger.inWindow(leaves), 'total').tokens).toBe(0);
    }
  });

  it('has no fixed boundary: usage just before a minute mark still counts just after it', () => {
    const ledger = new BucketLedger(60_000);
    const minute = 1_700_000_040_000;
    ledger.record(minute - 500, 100, 0);
    expect(sumWindow(ledger.inWindow(minute + 500), 'total').tokens).toBe(100);
    expect(sumWindow(ledger.inWindow(minute + 59_000), 'total').tokens).toBe(100);
    expect(sumWindow(ledger.inWindow(minute + 60_000), 'total').tokens).toBe(0);
  });

  it('releases usage bucket by bucket, oldest first', () => {
    const windowMs = 60_000;
    const ledger = new BucketLedger(windowMs);
    const width = ledger.widthMs;
    const t0 = 1_700_000_000_400 - (1_700_000_000_400 % width);
    for (let i = 0; i < 5; i++) ledger.record(t0 + i * width, 10 * (i + 1), 0);
    const totalAt = (now: number): number => sumWindow(ledger.inWindow(now), 'total').tokens;
    expect(totalAt(t0 + 5 * width)).toBe(150);
    let expected = 150;
    for (let i = 0; i < 5; i++) {
      const leaves = t0 + i * width + width + windowMs;
      expect(totalAt(leaves - 1)).toBe(expected);
      expected -= 10 * (i + 1);
      expect(totalAt(leaves)).toBe(expected);
    }
    expect(expected).toBe(0);
  });

  it('sums requests alongside tokens', () => {
    const usage = sumWindow([bucket(0, 1, 2, 3), bucket(600, 4, 5, 6)], 'total');
    expect(usage).toEqual({ tokens: 12, requests: 9 });
  });

  it('limits input, output or total tokens as configured', () => {
    const buckets = [bucket(0, 100, 10), bucket(600, 200, 20)];
    expect(sumWindow(buckets, 'input').tokens).toBe(300);
    expect(sumWindow(buckets, 'output').tokens).toBe(30);
    expect(sumWindow(buckets, 'total').tokens).toBe(330);
    expect(tokensOf({ inputTokens: 3, outputTokens: 4 }, 'input')).toBe(3);
    expect(tokensOf({ inputTokens: 3, outputTokens: 4 }, 'output')).toBe(4);
    expect(tokensOf({ inputTokens: 3, outputTokens: 4 }, 'total')).toBe(7);
  });

  it('reads only the buckets that overlap the window', () => {
    expect(oldestBucketInWindow(100_000, 60_000, 600)).toBe(39_401);
  });
});

describe('time until room', () => {
  const windowMs = 60_000;
  const width = bucketWidthFor(windowMs);
  const now = 1_700_000_030_000;

  it('is zero when the request fits now', () => {
    expect(msUntilRoom([bucket(now - 1_000, 50, 0)], total, 50, 100, now, windowMs, width)).toBe(0);
  });

  it('is null when even an empty window could not hold the request', () => {
    expect(msUntilRoom([bucket(now - 1_000, 50, 0)], total, 101, 100, now, windowMs, width)).toBeNull();
  });

  it('is the moment the oldest buckets leave, and the request fits exactly then', () => {
    const ledger = new BucketLedger(windowMs);
    ledger.record(now - 30_000, 40, 0);
    ledger.record(now - 20_000, 40, 0);
    ledger.record(now - 10_000, 40, 0);
    const wait = msUntilRoom(ledger.inWindow(now), total, 50, 100, now, windowMs, width);
    expect(wait).not.toBeNull();
    const at = now + (wait as number);
    // Two buckets must go for 50 to fit under 100: it is the second one's departure.
    expect(at).toBe(bucketStartFor(now - 20_000, width) + width + windowMs);
    expect(sumWindow(ledger.inWindow(at), 'total').tokens + 50).toBeLessThanOrEqual(100);
    expect(sumWindow(ledger.inWindow(at - 1), 'total').tokens + 50).toBeGreaterThan(100);
  });

  it('does not depend on the order the buckets are given in', () => {
    const buckets = [bucket(now - 10_200, 40, 0), bucket(now - 30_000, 40, 0), bucket(now - 20_400, 40, 0)];
    const sorted = [...buckets].sort((a, b) => a.start - b.start);
    expect(msUntilRoom(buckets, total, 50, 100, now, windowMs, width)).toBe(msUntilRoom(sorted, total, 50, 100, now, windowMs, width));
  });

  it('is at least 1 ms when room is needed', () => {
    const start = now - windowMs - width + 1;
    expect(msUntilRoom([bucket(start, 100, 0)], total, 1, 100, now, windowMs, width)).toBe(1);
  });

  it('measures any quantity, such as requests', () => {
    const buckets = [bucket(now - 5_000, 0, 0, 3), bucket(now - 1_000, 0, 0, 2)];
    const wait = msUntilRoom(buckets, (b) => b.requests, 1, 5, now, windowMs, width);
    expect(wait).toBe(now - 5_000 + width + windowMs - now);
  });
});
