import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, anthropicBody, postJson, readRows } from '../proxy/harness.js';

/** Issue 26 item 10: requests waiting in the queue when the proxy stops get 503 `stopping`, not 429 `budget`. */
const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

describe('a stop with requests waiting for budget', () => {
  it('answers each waiting request 503 stopping at once, forwards none of them, and counts them as no refusal', async () => {
    let arrived: () => void = () => undefined;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let forwarded = 0;
    const upstream = await harness.upstream((request, response) => {
      forwarded += 1;
      request.resume();
      arrived();
      void released.then(() => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ type: 'message', usage: { input_tokens: 5, output_tokens: 5 } }));
      });
    });
    const { proxy, dbPath } = await harness.proxy({
      upstream: upstream.url,
      provider: 'anthropic',
      window: '60s',
      requestBudget: '1',
      maxWait: '30s',
    });
    const first = postJson(`${proxy.url}/v1/messages`, anthropicBody());
    await arrival;
    const waiting = [postJson(`${proxy.url}/v1/messages`, anthropicBody()), postJson(`${proxy.url}/v1/messages`, anthropicBody())];
    while (proxy.queueLength() < 2) await new Promise((resolve) => setImmediate(resolve));

    const closed = proxy.close(5_000);
    for (const answer of await Promise.all(waiting)) {
      expect(answer.status).toBe(503);
      expect(answer.headers.get('x-ratewarden-reason')).toBe('stopping');
    }
    release();
    expect((await first).status).toBe(200);
    await closed;
    expect(forwarded).toBe(1);
    expect(readRows<{ n: number }>(dbPath, 'SELECT COUNT(*) AS n FROM requests')[0]?.n).toBe(1);
  });
});
