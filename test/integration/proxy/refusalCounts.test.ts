import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningProxy } from '../../../src/proxy/server.js';
import { ProxyHarness, postJson, readRows } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

/** Answers at once with the input usage the request names in `metadata.cost`; no rate-limit headers, so the window rules. */
async function costUpstream(): Promise<string> {
  const upstream = await harness.upstream((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { metadata?: { cost?: number } };
      response.writeHead(200, { 'content-type': 'application/json' });
      const usage = { input_tokens: body.metadata?.cost ?? 1, output_tokens: 0 };
      response.end(
        JSON.stringify({ id: 'msg', type: 'message', role: 'assistant', content: [], model: 'claude-sim', stop_reason: 'end_turn', usage }),
      );
    });
  });
  return upstream.url;
}

/** A message whose reservation is about `reserve` tokens (4 body bytes a token) and whose real usage is `cost`. */
function message(reserve: number, cost: number): string {
  const base = { model: 'claude-sim', max_tokens: 1, metadata: { cost }, messages: [{ role: 'user', content: '' }] };
  const padding = Math.max(0, reserve * 4 - JSON.stringify(base).length);
  return JSON.stringify({ ...base, messages: [{ role: 'user', content: 'x'.repeat(padding) }] });
}

/** The durable refusal totals of every scope, once the ticks have added at least `atLeast` refusals (the proxy's own ticker runs too). */
async function durableRefusals(proxy: RunningProxy, dbPath: string, atLeast: number): Promise<{ budget: number; cooldown: number }> {
  const read = () =>
    readRows<{ budget: number | null; cooldown: number | null }>(
      dbPath,
      'SELECT SUM(refused_budget_total) AS budget, SUM(refused_cooldown_total) AS cooldown FROM limiter_state',
    )[0];
  for (;;) {
    await proxy.warden.tick();
    const totals = read();
    if ((totals?.budget ?? 0) + (totals?.cooldown ?? 0) >= atLeast) break;
  }
  // One more tick: nothing counted twice arrives late.
  await proxy.warden.tick();
  const totals = read();
  return { budget: totals?.budget ?? 0, cooldown: totals?.cooldown ?? 0 };
}

describe('the refusals the proxy answers', () => {
  it('are added to the durable totals once each (two refused after waiting out --max-wait in the queue)', async () => {
    const upstream = await costUpstream();
    const { proxy, dbPath } = await harness.proxy({ upstream, provider: 'anthropic', window: '1h', tokenBudget: '1000', maxWait: '50ms' });
    expect((await postJson(`${proxy.url}/v1/messages`, message(100, 900))).status).toBe(200);
    // The first waits out --max-wait at the head of the queue; the second, sent meanwhile, waits behind it.
    const answers = await Promise.all([
      postJson(`${proxy.url}/v1/messages`, message(600, 600)),
      postJson(`${proxy.url}/v1/messages`, message(600, 600)),
    ]);
    expect(answers.map((answer) => [answer.status, answer.headers.get('x-ratewarden-reason')])).toEqual([
      [429, 'budget'],
      [429, 'budget'],
    ]);
    expect(await durableRefusals(proxy, dbPath, 2)).toEqual({ budget: 2, cooldown: 0 });
  });
});
