import { setTimeout as sleep } from 'node:timers/promises';
import type { OutgoingHttpHeaders } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, anthropicBody, lastScope, postJson } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

/** An upstream that refuses the first request with `refusal`'s headers and serves everything after it. */
async function refusingOnce(refusal: OutgoingHttpHeaders): Promise<{ url: string; forwarded: () => number }> {
  let forwarded = 0;
  const upstream = await harness.upstream((request, response) => {
    request.resume();
    forwarded += 1;
    if (forwarded === 1) {
      response.writeHead(429, { 'content-type': 'application/json', ...refusal });
      response.end(JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'limited' } }));
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', content: [], usage: { input_tokens: 5, output_tokens: 5 } }),
    );
  });
  return { url: upstream.url, forwarded: () => forwarded };
}

describe('a cooldown lasts what the upstream announced (at the default 30 s backoff base)', () => {
  it('retry-after-ms 600: cools 600 ms, not 30 s, and the next request after it is forwarded', async () => {
    const upstream = await refusingOnce({ 'retry-after': '1', 'retry-after-ms': '600' });
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' });
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(429);
    const state = await proxy.warden.views.readState(lastScope(proxy.warden));
    expect((state.cooldownUntil as number) - (state.cooldownStartedAt as number)).toBe(600);

    await sleep(Math.max(0, (state.cooldownUntil as number) - Date.now()) + 20);
    const after = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
    expect(after.status).toBe(200);
    expect(await proxy.warden.views.readState(lastScope(proxy.warden))).toMatchObject({ cooldownUntil: null, consecutive429s: 0 });
  });

  it('OpenAI x-ratelimit-* without retry-after: cools until the reported refill holds the request', async () => {
    // 1 000 000 tokens per minute, 0 left, full again in 60 s: about 16.7 tokens a ms; the
    // request needs a few thousand tokens (its max_tokens), so a fraction of a second.
    const upstream = await refusingOnce({
      'x-ratelimit-limit-tokens': '1000000',
      'x-ratelimit-remaining-tokens': '0',
      'x-ratelimit-reset-tokens': '60s',
      'x-ratelimit-limit-requests': '500',
      'x-ratelimit-remaining-requests': '499',
      'x-ratelimit-reset-requests': '120ms',
    });
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'openai' });
    const body = { model: 'gpt-4o', max_tokens: 4_000, messages: [{ role: 'user', content: 'hello' }] };
    expect((await postJson(`${proxy.url}/v1/chat/completions`, JSON.stringify(body))).status).toBe(429);
    const state = await proxy.warden.views.readState(lastScope(proxy.warden));
    const cooldownMs = (state.cooldownUntil as number) - (state.cooldownStartedAt as number);
    expect(cooldownMs).toBeGreaterThan(0);
    expect(cooldownMs).toBeLessThan(1_000);
  });
});
