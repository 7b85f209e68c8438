import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimUpstream } from '../../../src/sim/upstream.js';
import { ProxyHarness, rawRequest, recordedRequests } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

interface Shape {
  name: string;
  provider: 'anthropic' | 'openai';
  path: string;
  body: Record<string, unknown>;
}

const prompt = 'Tell me something about sliding windows and rate limits, briefly please.';

const shapes: Shape[] = [
  {
    name: 'Anthropic Messages JSON',
    provider: 'anthropic',
    path: '/v1/messages',
    body: { model: 'm', max_tokens: 12, messages: [{ role: 'user', content: prompt }] },
  },
  {
    name: 'Anthropic Messages SSE',
    provider: 'anthropic',
    path: '/v1/messages',
    body: { model: 'm', max_tokens: 12, stream: true, messages: [{ role: 'user', content: prompt }] },
  },
  {
    name: 'OpenAI chat completions JSON',
    provider: 'openai',
    path: '/v1/chat/completions',
    body: { model: 'm', max_completion_tokens: 9, messages: [{ role: 'user', content: prompt }] },
  },
  {
    name: 'OpenAI chat completions SSE (final usage chunk)',
    provider: 'openai',
    path: '/v1/chat/completions',
    body: {
      model: 'm',
      max_tokens: 9,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: prompt }],
    },
  },
  { name: 'OpenAI responses JSON', provider: 'openai', path: '/v1/responses', body: { model: 'm', max_output_tokens: 7, input: prompt } },
  {
    name: 'OpenAI responses SSE',
    provider: 'openai',
    path: '/v1/responses',
    body: { model: 'm', max_output_tokens: 7, stream: true, input: prompt },
  },
];

/** What the simulated upstream itself counted for the one request it served. */
function servedBy(sim: SimUpstream): { input_tokens: number; output_tokens: number } {
  const stats = sim.stats();
  expect(stats.requests).toBe(1);
  return { input_tokens: stats.inputTokens, output_tokens: stats.outputTokens };
}

describe('usage recorded at settle', () => {
  for (const shape of shapes) {
    for (const compress of [undefined, 'gzip', 'br'] as const) {
      it(`${shape.name}${compress ? `, ${compress}-compressed` : ''}: exactly what the upstream counted`, async () => {
        const sim = await harness.sim({ outputTokens: 40, streamChunks: 4, compress });
        const { proxy, dbPath } = await harness.proxy({ upstream: sim.url, provider: shape.provider });
        const answer = await rawRequest(proxy.url, {
          method: 'POST',
          path: shape.path,
          headers: ['Content-Type', 'application/json', 'Accept-Encoding', 'gzip, br'],
          body: JSON.stringify(shape.body),
        });
        expect(answer.status).toBe(200);
        expect(answer.headers['content-encoding']).toBe(compress);
        // The client gets the upstream's bytes: still compressed, and decodable.
        const text = (
          compress === 'gzip' ? gunzipSync(answer.body) : compress === 'br' ? brotliDecompressSync(answer.body) : answer.body
        ).toString();
        expect(text).toMatch(/usage/);
        await proxy.close();
        const expected = servedBy(sim);
        expect(expected.output_tokens).toBeGreaterThan(0);
        expect(recordedRequests(dbPath)).toMatchObject([{ outcome: 'ok', status: 200, ...expected }]);
      });
    }
  }

  it('keeps the reservation of a success whose usage cannot be read (OpenAI stream without include_usage)', async () => {
    const sim = await harness.sim({ outputTokens: 40 });
    const { proxy, dbPath } = await harness.proxy({ upstream: sim.url, provider: 'openai' });
    const body = JSON.stringify({ model: 'm', max_tokens: 25, stream: true, messages: [{ role: 'user', content: prompt }] });
    const answer = await rawRequest(proxy.url, {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: ['Content-Type', 'application/json'],
      body,
    });
    expect(answer.status).toBe(200);
    await proxy.close();
    const [row] = recordedRequests(dbPath);
    expect(row).toMatchObject({ outcome: 'ok', output_tokens: 25, est_output_tokens: 25 });
    expect(row?.input_tokens).toBe(row?.est_input_tokens);
  });
});
