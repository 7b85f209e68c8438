import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/kernel/log.js';
import { ProxyHarness, anthropicBody, postJson, readRows, recordedRequests, type RateLimitEventRow } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

/** An upstream that answers 429 with a long Retry-After to the first `refusals` requests, then 200. */
async function refusingUpstream(refusals: number) {
  const arrivals: number[] = [];
  const upstream = await harness.upstream((request, response) => {
    request.resume();
    request.once('end', () => {
      arrivals.push(Date.now());
      if (arrivals.length <= refusals) {
        response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '30' });
        response.end(JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } }));
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', content: [], usage: { input_tokens: 5, output_tokens: 7 } }),
      );
    });
  });
  return { upstream, arrivals };
}

describe("the seed's fixed retry (--unsafe-retry-rate-limited-after, with --unsafe-no-cooldown)", () => {
  it('holds the 429, resends after the fixed delay whatever Retry-After said, and records every attempt', async () => {
    const { upstream, arrivals } = await refusingUpstream(1);
    const { proxy, dbPath } = await harness.proxy({
      upstream: upstream.url,
      provider: 'anthropic',
      unsafeNoCooldown: 'true',
      unsafeRetryRateLimitedAfter: '300ms',
    });

    const answer = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
    expect(answer.status).toBe(200);
    expect(arrivals).toHaveLength(2);
    const gap = (arrivals[1] ?? 0) - (arrivals[0] ?? 0);
    expect(gap).toBeGreaterThanOrEqual(300);
    expect(gap).toBeLessThan(30_000);
    expect(recordedRequests(dbPath).map((row) => row.outcome)).toEqual(['upstream-429', 'ok']);
    expect(readRows<RateLimitEventRow>(dbPath, 'SELECT * FROM rate_limit_events')).toHaveLength(1);
  });

  it('lets the 429 through after its last resend', async () => {
    const { upstream, arrivals } = await refusingUpstream(100);
    const { proxy } = await harness.proxy({
      upstream: upstream.url,
      provider: 'anthropic',
      unsafeNoCooldown: 'true',
      unsafeRetryRateLimitedAfter: '50ms',
    });
    const answer = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
    expect(answer.status).toBe(429);
    expect(answer.headers.get('x-ratewarden-reason')).toBeNull();
    expect(arrivals).toHaveLength(4);
  });

  it('says at start, as a warning, which protections are off', async () => {
    const { upstream } = await refusingUpstream(0);
    const warnings: { event: string; message: string }[] = [];
    const log: Logger = { info: () => undefined, warn: (event, message) => void warnings.push({ event, message }), error: () => undefined };
    await harness.proxy(
      { upstream: upstream.url, provider: 'anthropic', unsafeNoCooldown: 'true', unsafeRetryRateLimitedAfter: '50ms' },
      { log },
    );
    expect(warnings.filter((line) => line.event === 'unsafe-switches').map((line) => line.message)).toEqual([
      expect.stringMatching(/^UNSAFE: running with --unsafe-no-cooldown, --unsafe-retry-rate-limited-after, the demo's hidden switches/),
    ]);
  });

  it('is off by default: the 429 reaches the client at once and the cooldown answers the next request locally', async () => {
    const { upstream, arrivals } = await refusingUpstream(1);
    const warnings: string[] = [];
    const log: Logger = { info: () => undefined, warn: (event) => void warnings.push(event), error: () => undefined };
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' }, { log });
    expect(warnings).not.toContain('unsafe-switches');
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(429);
    const next = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
    expect(next.headers.get('x-ratewarden-reason')).toBe('cooldown');
    expect(arrivals).toHaveLength(1);
  });
});
