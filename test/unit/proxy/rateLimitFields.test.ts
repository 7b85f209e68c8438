import { describe, expect, it } from 'vitest';
import { refusalHeaders, retryAfterSeconds } from '../../../src/proxy/rateLimitFields.js';

describe('the local 429 headers', () => {
  it('rounds retry-after up to whole seconds, never to 0', () => {
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(1000)).toBe(1);
    expect(retryAfterSeconds(1001)).toBe(2);
    expect(retryAfterSeconds(0)).toBe(1);
  });

  it('describes each budget in force as an IETF quota policy, with what remains of it', () => {
    const headers = refusalHeaders({
      reason: 'budget',
      retryAfterMs: 2_500,
      windowMs: 60_000,
      tokenBudget: 40_000,
      requestBudget: 50,
      usage: { tokens: 39_000, requests: 12 },
    });
    expect(headers).toEqual({
      'retry-after': '3',
      'retry-after-ms': '2500',
      'x-ratewarden-reason': 'budget',
      'ratelimit-policy': '"tokens";q=40000;w=60, "requests";q=50;w=60',
      ratelimit: '"tokens";r=1000;t=3, "requests";r=38;t=3',
    });
  });

  it('says nothing remains during a cooldown', () => {
    const headers = refusalHeaders({
      reason: 'cooldown',
      retryAfterMs: 30_000,
      windowMs: 60_000,
      tokenBudget: 40_000,
      requestBudget: null,
      usage: null,
    });
    expect(headers.ratelimit).toBe('"tokens";r=0;t=30');
    expect(headers['ratelimit-policy']).toBe('"tokens";q=40000;w=60');
  });

  it('names the cooldown itself before any budget is known', () => {
    const headers = refusalHeaders({
      reason: 'cooldown',
      retryAfterMs: 30_000,
      windowMs: 60_000,
      tokenBudget: null,
      requestBudget: null,
      usage: null,
    });
    expect(headers.ratelimit).toBe('"cooldown";r=0;t=30');
    expect(headers).not.toHaveProperty('ratelimit-policy');
  });
});
