import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningProxy } from '../../../src/proxy/server.js';
import { ProxyHarness, postJson, recordedRequests, lastScope } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

/**
 * An Anthropic-shaped upstream that answers at once with the usage the request asks for
 * (`metadata.cost`), so that a test decides exactly what fills the window, and records the
 * order in which requests reached it (`metadata.tag`). No rate-limit headers: the window rules.
 */
async function taggedUpstream() {
  const seen: string[] = [];
  const upstream = await harness.upstream((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { metadata?: { tag?: string; cost?: number } };
      seen.push(body.metadata?.tag ?? request.url ?? '?');
      response.writeHead(200, { 'content-type': 'application/json' });
      if (request.url?.endsWith('/count_tokens')) {
        response.end(JSON.stringify({ input_tokens: 12 }));
        return;
      }
      const usage = { input_tokens: body.metadata?.cost ?? 1, output_tokens: 0 };
      response.end(
        JSON.stringify({ id: 'msg', type: 'message', role: 'assistant', content: [], model: 'claude-sim', stop_reason: 'end_turn', usage }),
      );
    });
  });
  return { url: upstream.url, seen };
}

/** A message whose reservation is about `reserve` tokens (4 body bytes a token) and whose real usage is `cost`. */
function message(tag: string, reserve: number, cost: number): string {
  const base = { model: 'claude-sim', max_tokens: 1, metadata: { tag, cost }, messages: [{ role: 'user', content: '' }] };
  const padding = Math.max(0, reserve * 4 - JSON.stringify(base).length);
  return JSON.stringify({ ...base, messages: [{ role: 'user', content: 'x'.repeat(padding) }] });
}

/** Waits until the proxy's queue holds `length` requests: an explicit handshake, not a sleep. */
async function queueReaches(proxy: RunningProxy, length: number): Promise<void> {
  while (proxy.queueLength() !== length) await new Promise((resolve) => setImmediate(resolve));
}

describe('the fair admission queue', () => {
  it('serves waiting requests first come first served: a large one is not overtaken by small ones that would fit', async () => {
    const upstream = await taggedUpstream();
    // The window (3 s) outlasts queueing the four on a loaded machine: the head must not be admitted before the last one waits.
    const { proxy, dbPath } = await harness.proxy({
      upstream: upstream.url,
      provider: 'anthropic',
      window: '3s',
      tokenBudget: '1000',
      maxWait: '20s',
    });
    expect((await postJson(`${proxy.url}/v1/messages`, message('fill', 100, 900))).status).toBe(200);

    const large = postJson(`${proxy.url}/v1/messages`, message('large', 600, 600));
    await queueReaches(proxy, 1);
    // One at a time: requests sent together may reach the queue in any order.
    const small: ReturnType<typeof postJson>[] = [];
    for (const tag of ['small-1', 'small-2', 'small-3']) {
      small.push(postJson(`${proxy.url}/v1/messages`, message(tag, 20, 20)));
      await queueReaches(proxy, small.length + 1);
    }
    expect(upstream.seen).toEqual(['fill']);

    const answers = await Promise.all([large, ...small]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    // Admitted in the order they came (the requests' rows, by id); once admitted together they
    // go out on connections of their own, so the upstream may read them in another order.
    const [fill, largeRow, ...smallRows] = recordedRequests(dbPath).map((row) => row.est_input_tokens);
    expect(smallRows).toHaveLength(3);
    for (const reserved of smallRows) expect(reserved).toBeLessThan(largeRow as number);
    expect(largeRow).toBeGreaterThan(fill as number);
    expect([...upstream.seen].sort()).toEqual(['fill', 'large', 'small-1', 'small-2', 'small-3']);
  });

  it('answers a local 429 (budget) after --max-wait, having forwarded nothing; a full queue refuses at once', async () => {
    const upstream = await taggedUpstream();
    const { proxy, dbPath } = await harness.proxy({
      upstream: upstream.url,
      provider: 'anthropic',
      window: '60s',
      tokenBudget: '1000',
      maxWait: '300ms',
      maxQueue: '1',
    });
    expect((await postJson(`${proxy.url}/v1/messages`, message('fill', 100, 990))).status).toBe(200);

    const startedAt = Date.now();
    const waiting = postJson(`${proxy.url}/v1/messages`, message('waits', 100, 100));
    await queueReaches(proxy, 1);
    const overflow = await postJson(`${proxy.url}/v1/messages`, message('overflow', 100, 100));
    expect(overflow.status).toBe(429);
    expect(overflow.headers.get('x-ratewarden-reason')).toBe('budget');
    expect(await overflow.json()).toMatchObject({
      error: { message: expect.stringMatching(/already waiting for budget \(--max-queue 1\)/) },
    });

    const refused = await waiting;
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(300);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ratewarden-reason')).toBe('budget');
    expect(Number(refused.headers.get('retry-after-ms'))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({
      type: 'error',
      error: { type: 'rate_limit_error', message: expect.stringMatching(/waited [\d.]+m?s for budget \(--max-wait 300ms\)/) },
    });
    expect(upstream.seen).toEqual(['fill']);
    expect(recordedRequests(dbPath)).toHaveLength(1);
  });

  it('a client that leaves while queued leaves nothing reserved and nothing forwarded', async () => {
    const upstream = await taggedUpstream();
    const { proxy, dbPath } = await harness.proxy({
      upstream: upstream.url,
      provider: 'anthropic',
      window: '1s',
      tokenBudget: '1000',
      maxWait: '20s',
    });
    expect((await postJson(`${proxy.url}/v1/messages`, message('fill', 100, 990))).status).toBe(200);

    const url = new URL(proxy.url);
    const leaving = httpRequest({
      host: url.hostname,
      port: Number(url.port),
      method: 'POST',
      path: '/v1/messages',
      headers: { 'content-type': 'application/json' },
    });
    leaving.on('error', () => undefined);
    leaving.end(message('leaves', 500, 500));
    await queueReaches(proxy, 1);
    leaving.destroy();
    await queueReaches(proxy, 0);

    // Once the window has room, the next request goes, and the one that left never does.
    expect((await postJson(`${proxy.url}/v1/messages`, message('next', 100, 100))).status).toBe(200);
    expect(upstream.seen).toEqual(['fill', 'next']);
    expect(recordedRequests(dbPath).map((row) => row.est_input_tokens)).toHaveLength(2);
    expect((await proxy.warden.views.currentUsage(lastScope(proxy.warden))).tokens).toBeLessThanOrEqual(1_090);
  });

  it('serves a request larger than the whole budget once the window is otherwise empty', async () => {
    const upstream = await taggedUpstream();
    const { proxy } = await harness.proxy({
      upstream: upstream.url,
      provider: 'anthropic',
      window: '1s',
      tokenBudget: '500',
      maxWait: '20s',
    });
    expect((await postJson(`${proxy.url}/v1/messages`, message('fill', 100, 100))).status).toBe(200);
    const huge = postJson(`${proxy.url}/v1/messages`, message('huge', 2_000, 2_000));
    await queueReaches(proxy, 1);
    expect((await huge).status).toBe(200);
    expect(upstream.seen).toEqual(['fill', 'huge']);
  });

  it('count_tokens reserves nothing: it is answered at once while the token budget is full', async () => {
    const upstream = await taggedUpstream();
    const { proxy, dbPath } = await harness.proxy({
      upstream: upstream.url,
      provider: 'anthropic',
      window: '60s',
      tokenBudget: '1000',
      maxWait: '20s',
    });
    expect((await postJson(`${proxy.url}/v1/messages`, message('fill', 100, 1_000))).status).toBe(200);
    const counted = await postJson(`${proxy.url}/v1/messages/count_tokens`, message('count', 2_000, 0));
    expect(counted.status).toBe(200);
    expect(await counted.json()).toEqual({ input_tokens: 12 });
    expect(proxy.queueLength()).toBe(0);
    expect(recordedRequests(dbPath)[1]).toMatchObject({ path: '/v1/messages/count_tokens', est_input_tokens: 0, est_output_tokens: 0 });
  });

  it('a stopping proxy answers a request that was still sending its body at once, instead of queueing it for budget', async () => {
    const upstream = await taggedUpstream();
    const { proxy, dbPath } = await harness.proxy({
      upstream: upstream.url,
      provider: 'anthropic',
      window: '60s',
      tokenBudget: '1000',
      maxWait: '60s',
    });
    expect((await postJson(`${proxy.url}/v1/messages`, message('fill', 100, 1_000))).status).toBe(200);

    const body = Buffer.from(message('late', 100, 100));
    const url = new URL(proxy.url);
    const late = httpRequest({
      host: url.hostname,
      port: Number(url.port),
      method: 'POST',
      path: '/v1/messages',
      headers: { 'content-type': 'application/json', 'content-length': body.length },
    });
    const answered = new Promise<{ status: number; reason: string | undefined; text: string }>((resolve, reject) => {
      late.once('error', reject);
      late.once('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.once('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            reason: response.headers['x-ratewarden-reason'] as string | undefined,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
    });
    late.write(body.subarray(0, 10));
    // The handshake: the proxy is handling the late request before the stop begins (the health check answers before it counts itself).
    for (;;) {
      const health = (await (await fetch(`${proxy.url}/_ratewarden/health`)).json()) as { inFlight: number };
      if (health.inFlight >= 1) break;
    }
    const stopped = proxy.close(60_000);
    late.end(body.subarray(10));
    const answer = await answered;
    expect(answer).toMatchObject({ status: 503, reason: 'stopping', text: expect.stringContaining('ratewarden is stopping') });
    await stopped;
    expect(upstream.seen).toEqual(['fill']);
    expect(recordedRequests(dbPath)).toHaveLength(1);
  });

  it('a cooldown refuses everyone waiting at once, and nothing waiting is forwarded', async () => {
    let releaseHeld: (() => void) | null = null;
    const seen: string[] = [];
    const upstream = await harness.upstream((request: IncomingMessage, response: ServerResponse) => {
      request.resume();
      request.on('end', () => {
        seen.push(request.url ?? '?');
        // The first request is held until the test answers it with a 429.
        releaseHeld = () => {
          response.writeHead(429, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'upstream limit' } }));
        };
      });
    });
    const { proxy, dbPath } = await harness.proxy({
      upstream: upstream.url,
      provider: 'anthropic',
      window: '60s',
      tokenBudget: '1000',
      maxWait: '60s',
      backoffBase: '30s',
    });
    const held = postJson(`${proxy.url}/v1/messages`, message('held', 900, 900));
    while (releaseHeld === null) await new Promise((resolve) => setImmediate(resolve));
    const waiting = [
      postJson(`${proxy.url}/v1/messages`, message('w1', 500, 500)),
      postJson(`${proxy.url}/v1/messages`, message('w2', 50, 50)),
    ];
    await queueReaches(proxy, 2);

    (releaseHeld as () => void)();
    expect((await held).status).toBe(429);
    const refused = await Promise.all(waiting);
    expect(refused.map((answer) => [answer.status, answer.headers.get('x-ratewarden-reason')])).toEqual([
      [429, 'cooldown'],
      [429, 'cooldown'],
    ]);
    expect(Number(refused[0]?.headers.get('retry-after'))).toBe(30);
    expect(seen).toHaveLength(1);
    expect(recordedRequests(dbPath)).toHaveLength(1);
  });
});
