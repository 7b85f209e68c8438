import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, anthropicBody, postJson, readRows, recordedRequests, type RateLimitEventRow, lastScope, until } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

function untilPast(time: number): Promise<void> {
  return sleep(Math.max(0, time - Date.now()) + 20);
}

describe('after an upstream 429', () => {
  it('passes the 429 through, then answers everything locally for the whole cooldown while the upstream sees nothing', async () => {
    const sim = await harness.sim({ retryAfterMode: 'none' });
    const { proxy } = await harness.proxy({ upstream: sim.url, provider: 'anthropic', backoffBase: '3s' });
    sim.setMode('always-429');

    const first = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
    expect(first.status).toBe(429);
    expect(first.headers.get('x-ratewarden-reason')).toBeNull();
    expect(await first.json()).toMatchObject({
      type: 'error',
      error: { type: 'rate_limit_error', message: expect.stringMatching(/^Simulated/) },
    });
    sim.setMode('normal');

    const { cooldownUntil, cooldownStartedAt } = await proxy.warden.views.readState(lastScope(proxy.warden));
    expect(cooldownUntil).not.toBeNull();
    expect((cooldownUntil as number) - (cooldownStartedAt as number)).toBe(3000);
    // Back to back, well inside the cooldown (a local answer takes milliseconds; the margin is 1 s).
    let refused = 0;
    while (refused < 6 && Date.now() < (cooldownUntil as number) - 1_000) {
      const answer = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
      expect(answer.status).toBe(429);
      expect(answer.headers.get('x-ratewarden-reason')).toBe('cooldown');
      const retryAfterMs = Number(answer.headers.get('retry-after-ms'));
      expect(retryAfterMs).toBeGreaterThan(0);
      expect(retryAfterMs).toBeLessThanOrEqual(3000);
      expect(Number(answer.headers.get('retry-after'))).toBe(Math.ceil(retryAfterMs / 1000));
      expect(answer.headers.get('ratelimit')).toMatch(/;r=0;t=\d+/);
      expect(await answer.json()).toMatchObject({
        type: 'error',
        error: { type: 'rate_limit_error', message: expect.stringMatching(/cooling down/) },
      });
      refused += 1;
    }
    expect(refused).toBeGreaterThan(0);
    expect(sim.stats().requests).toBe(1);

    await untilPast(cooldownUntil as number);
    const afterwards = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
    expect(afterwards.status).toBe(200);
    expect(sim.stats().requests).toBe(2);
    expect(await proxy.warden.views.readState(lastScope(proxy.warden))).toMatchObject({ cooldownUntil: null, consecutive429s: 0 });
  });

  // Issue 19 replaced what this test asserted before (the others answered 429 `cooldown` with a
  // fixed `retry-after: 1` until the probe's body ended): they now wait in the queue, and the
  // probe is judged by its status at its head, while its body still streams.
  it('lets exactly one probe through when the cooldown ends; the rest wait for its head, and go while its body still streams', async () => {
    // A hand-written upstream: 429 first, then it holds the probe's head and then its body until
    // the test releases each, so the other requests arrive while the probe is out by construction.
    let limited = true;
    let forwarded = 0;
    let probeArrived: () => void = () => undefined;
    const probeArrival = new Promise<void>((resolve) => {
      probeArrived = resolve;
    });
    let releaseHead: () => void = () => undefined;
    const headReleased = new Promise<void>((resolve) => {
      releaseHead = resolve;
    });
    let releaseBody: () => void = () => undefined;
    const bodyReleased = new Promise<void>((resolve) => {
      releaseBody = resolve;
    });
    const usage = { input_tokens: 5, output_tokens: 5 };
    const upstream = await harness.upstream((request, response) => {
      request.resume();
      forwarded += 1;
      const answer = (status: number, body: unknown): void => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      };
      if (limited) return answer(429, { type: 'error', error: { type: 'rate_limit_error', message: 'limited' } });
      if (request.url === '/hold') {
        probeArrived();
        void headReleased.then(() => {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.write('{"id":"msg_0","type":"message","role":"assistant","content":[],');
          void bodyReleased.then(() => response.end(`"usage":${JSON.stringify(usage)}}`));
        });
        return;
      }
      answer(200, { id: 'msg_1', type: 'message', role: 'assistant', content: [], usage });
    });
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', backoffBase: '300ms', maxWait: '1m' });
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(429);
    limited = false;
    await untilPast((await proxy.warden.views.readState(lastScope(proxy.warden))).cooldownUntil as number);

    // The probe is of the cooled scope (the same model, no key): another scope's request would not be one.
    const probe = postJson(`${proxy.url}/hold`, anthropicBody());
    await probeArrival;
    const held = [1, 2, 3].map(() => postJson(`${proxy.url}/v1/messages`, anthropicBody()));
    await until(() => proxy.queueLength() === 3);
    expect(forwarded).toBe(2);
    releaseHead();
    const probeAnswer = await probe;
    expect(probeAnswer.status).toBe(200);
    // The probe's body has not ended, and the others are answered already.
    for (const answer of await Promise.all(held)) expect(answer.status).toBe(200);
    expect(forwarded).toBe(5);
    releaseBody();
    await probeAnswer.text();

    await proxy.close();
    expect(recordedRequests(dbPath).map((row) => [row.probe, row.outcome])).toEqual([
      [0, 'upstream-429'],
      [1, 'ok'],
      [0, 'ok'],
      [0, 'ok'],
      [0, 'ok'],
    ]);
  });

  it('doubles the cooldown with each 429 in a row up to --backoff-max (30→60→…→300 s, scaled to ms)', async () => {
    const sim = await harness.sim({ retryAfterMode: 'none' });
    const { proxy, dbPath } = await harness.proxy({ upstream: sim.url, provider: 'anthropic', backoffBase: '100ms', backoffMax: '500ms' });
    sim.setMode('always-429');
    let upstream429s = 0;
    while (upstream429s < 5) {
      const answer = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
      expect(answer.status).toBe(429);
      if (answer.headers.get('x-ratewarden-reason') === null) upstream429s += 1;
      else await sleep(Number(answer.headers.get('retry-after-ms')));
    }
    await proxy.close();
    const events = readRows<RateLimitEventRow>(
      dbPath,
      'SELECT at, consecutive_429s, escalated, cooldown_ms, cooldown_until FROM rate_limit_events ORDER BY id',
    );
    expect(events.map((event) => [event.consecutive_429s, event.escalated, event.cooldown_ms])).toEqual([
      [1, 1, 100],
      [2, 1, 200],
      [3, 1, 400],
      [4, 1, 500],
      [5, 1, 500],
    ]);
    // Not one request reached the upstream while a cooldown was running: each came after the last one ended.
    const { arrivals } = sim.stats();
    expect(arrivals).toHaveLength(5);
    events.slice(0, -1).forEach((event, index) => expect(arrivals[index + 1]).toBeGreaterThanOrEqual(event.cooldown_until));
  });
});
