import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, anthropicBody, postJson } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

/**
 * An upstream that speaks Anthropic's headers and always reports its request limit of 3 as
 * almost untouched, full again in a second: what a bucket says, and what a sliding-window
 * gateway may say just before it refuses.
 */
async function alwaysRoomyUpstream(): Promise<{ url: string; served: () => number }> {
  let served = 0;
  const upstream = await harness.upstream((request, response) => {
    request.resume();
    request.once('end', () => {
      served += 1;
      response.writeHead(200, {
        'content-type': 'application/json',
        'anthropic-ratelimit-requests-limit': '3',
        'anthropic-ratelimit-requests-remaining': '3',
        'anthropic-ratelimit-requests-reset': new Date(Date.now() + 1_000).toISOString(),
      });
      response.end(
        JSON.stringify({ id: 'msg', type: 'message', role: 'assistant', content: [], usage: { input_tokens: 10, output_tokens: 5 } }),
      );
    });
  });
  return { url: upstream.url, served: () => served };
}

const flags = { provider: 'anthropic', window: '30s', limitPeriod: '30s', maxWait: '0' } as const;

async function sendFive(url: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let index = 0; index < 5; index++) statuses.push((await postJson(`${url}/v1/messages`, anthropicBody())).status);
  return statuses;
}

describe('--limit-shape: how the upstream refills its limits', () => {
  it('auto: Anthropic’s headers describe a token bucket, whose fresh report replaces the window budget', async () => {
    const upstream = await alwaysRoomyUpstream();
    const { proxy } = await harness.proxy({ ...flags, upstream: upstream.url });
    expect(await sendFive(proxy.url)).toEqual([200, 200, 200, 200, 200]);
    expect(upstream.served()).toBe(5);
  });

  it('sliding-window: the same reports are followed on top of the window budget, which holds the fleet to the limit per window', async () => {
    const upstream = await alwaysRoomyUpstream();
    const { proxy } = await harness.proxy({ ...flags, upstream: upstream.url, limitShape: 'sliding-window' });
    // The reported limit of 3 × the 0.97 margin is a window budget of 2 requests.
    expect(await sendFive(proxy.url)).toEqual([200, 200, 429, 429, 429]);
    expect(upstream.served()).toBe(2);
  });
});
