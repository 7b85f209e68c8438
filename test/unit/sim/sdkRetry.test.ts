import { describe, expect, it } from 'vitest';
import { askedWaitMs, decideRetry, scaledSdkRetryRule, type AttemptOutcome } from '../../../src/sim/sdkRetry.js';

const rule = scaledSdkRetryRule(1);
const now = 1_700_000_000_000;

function answer(status: number, headers: Record<string, string> = {}): AttemptOutcome {
  return { kind: 'answer', status, header: (name) => headers[name] };
}

describe('the SDK retry rule', () => {
  it('retries 408, 409, 429, 5xx and connection errors, and nothing else', () => {
    for (const status of [408, 409, 429, 500, 503, 529]) expect(decideRetry(answer(status), 0, rule, 0, now).retry).toBe(true);
    for (const status of [200, 400, 401, 404, 413]) expect(decideRetry(answer(status), 0, rule, 0, now).retry).toBe(false);
    expect(decideRetry({ kind: 'connection-error' }, 0, rule, 0, now).retry).toBe(true);
  });

  it('obeys x-should-retry either way', () => {
    expect(decideRetry(answer(400, { 'x-should-retry': 'true' }), 0, rule, 0, now).retry).toBe(true);
    expect(decideRetry(answer(429, { 'x-should-retry': 'false' }), 0, rule, 0, now).retry).toBe(false);
  });

  it('stops after maxRetries retries (the SDKs default to 2)', () => {
    expect(decideRetry(answer(429), 1, rule, 0, now).retry).toBe(true);
    expect(decideRetry(answer(429), 2, rule, 0, now).retry).toBe(false);
    expect(decideRetry(answer(429), 2, { ...rule, maxRetries: 5 }, 0, now).retry).toBe(true);
  });

  it('waits what retry-after-ms asks, before retry-after', () => {
    expect(decideRetry(answer(429, { 'retry-after-ms': '1234.5', 'retry-after': '9' }), 0, rule, 0, now)).toEqual({
      retry: true,
      delayMs: 1234.5,
      honoured: true,
    });
  });

  it('reads retry-after as seconds or as an HTTP date', () => {
    expect(decideRetry(answer(429, { 'retry-after': '7' }), 0, rule, 0, now)).toEqual({ retry: true, delayMs: 7_000, honoured: true });
    const inTwentySeconds = new Date(now + 20_000).toUTCString();
    expect(askedWaitMs((name) => (name === 'retry-after' ? inTwentySeconds : undefined), now)).toBe(20_000);
  });

  it('ignores an asked wait of 60 s or more, or of none at all, and backs off instead', () => {
    const unusable: Record<string, string>[] = [{ 'retry-after': '60' }, { 'retry-after-ms': '0' }, { 'retry-after': 'soon' }, {}];
    for (const headers of unusable) {
      const decision = decideRetry(answer(429, headers), 0, rule, 0, now);
      expect(decision).toEqual({ retry: true, delayMs: 500, honoured: false });
    }
    expect(decideRetry(answer(429, { 'retry-after': '59' }), 0, rule, 0, now)).toMatchObject({ delayMs: 59_000, honoured: true });
  });

  it('backs off 0.5 s · 2^n up to 8 s, minus up to a quarter of jitter', () => {
    const delays = [0, 1, 2, 3, 4, 5].map((retriesDone) => decideRetry(answer(503), retriesDone, { ...rule, maxRetries: 10 }, 0, now));
    expect(delays.map((decision) => (decision.retry ? decision.delayMs : null))).toEqual([500, 1_000, 2_000, 4_000, 8_000, 8_000]);
    expect(decideRetry(answer(503), 0, rule, 0.999_999, now)).toMatchObject({ delayMs: expect.closeTo(375, 3) });
  });

  it("scales every duration of the rule by the demo's time factor", () => {
    expect(scaledSdkRetryRule(10)).toEqual({ maxRetries: 2, maxHonouredWaitMs: 6_000, initialBackoffMs: 50, maxBackoffMs: 800 });
  });
});
