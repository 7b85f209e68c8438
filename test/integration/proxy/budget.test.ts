import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, anthropicBody, postJson, lastScope } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

describe('the budget', () => {
  it('with --max-wait 0, refuses a request over budget locally, with the IETF RateLimit fields, and forwards nothing', async () => {
    const sim = await harness.sim({ windowMs: 2_000 });
    const { proxy } = await harness.proxy({
      upstream: sim.url,
      provider: 'anthropic',
      window: '2s',
      limitPeriod: '2s',
      requestBudget: '2',
      tokenBudget: '5000',
      maxWait: '0',
    });
    for (let index = 0; index < 2; index++) expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(200);
    const refused = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ratewarden-reason')).toBe('budget');
    expect(Number(refused.headers.get('retry-after-ms'))).toBeLessThanOrEqual(2000);
    expect(refused.headers.get('ratelimit-policy')).toBe('"tokens";q=5000;w=2, "requests";q=2;w=2');
    expect(refused.headers.get('ratelimit')).toMatch(/^"tokens";r=\d+;t=[12], "requests";r=0;t=[12]$/);
    expect(await refused.json()).toMatchObject({
      type: 'error',
      error: { type: 'rate_limit_error', message: expect.stringMatching(/request budget/) },
    });
    expect(sim.stats().requests).toBe(2);
  });

  it('with --max-wait, holds a request refused for budget until there is room, then forwards it', async () => {
    const sim = await harness.sim();
    const { proxy } = await harness.proxy({ upstream: sim.url, provider: 'anthropic', window: '1s', requestBudget: '1', maxWait: '5s' });
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(200);
    const waited = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
    expect(waited.status).toBe(200);
    const [first, second] = sim.stats().arrivals;
    expect((second as number) - (first as number)).toBeGreaterThanOrEqual(900);
  });

  it('never waits out a cooldown, even with --max-wait', async () => {
    const sim = await harness.sim({ retryAfterMode: 'none' });
    const { proxy } = await harness.proxy({ upstream: sim.url, provider: 'anthropic', backoffBase: '10s', maxWait: '30s' });
    sim.setMode('always-429');
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(429);
    const refused = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ratewarden-reason')).toBe('cooldown');
    expect(Number(refused.headers.get('retry-after'))).toBe(10);
  });

  it('follows the upstream’s reported limit times the safety margin when no budget is configured', async () => {
    const sim = await harness.sim({ tokenLimit: 20_000, requestLimit: 50 });
    const { proxy } = await harness.proxy({ upstream: sim.url, provider: 'anthropic' });
    expect(await proxy.warden.views.readState(lastScope(proxy.warden))).toMatchObject({ tokenBudget: null, requestBudget: null });
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(200);
    expect(await proxy.warden.views.readState(lastScope(proxy.warden))).toMatchObject({
      reportedTokenLimit: 20_000,
      tokenBudget: 19_400,
      reportedRequestLimit: 50,
      requestBudget: 48,
    });
  });

  it('scales a per-minute reported limit to a shorter window', async () => {
    const sim = await harness.sim({ tokenLimit: 60_000, requestLimit: 600, windowMs: 6_000 });
    const { proxy } = await harness.proxy({ upstream: sim.url, provider: 'anthropic', window: '10s', limitPeriod: '6s' });
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(200);
    expect(await proxy.warden.views.readState(lastScope(proxy.warden))).toMatchObject({
      reportedTokenLimit: 60_000,
      tokenBudget: 97_000,
      requestBudget: 970,
    });
  });
});
