import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, rawRequest, recordedRequests } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

/** Counts an upstream may send that are not token counts; each must keep the reservation. */
const unreadableCounts: { name: string; json: string }[] = [
  { name: 'negative', json: '-40' },
  { name: 'fractional', json: '12.5' },
  { name: 'huge', json: '1e15' },
  { name: 'a string', json: '"40"' },
];

interface Shape {
  name: string;
  provider: 'anthropic' | 'openai';
  path: string;
  request: Record<string, unknown>;
  reply(count: string): { contentType: string; body: string };
}

const sse = (events: string[]): string => events.map((data) => `data: ${data}\n\n`).join('');

const shapes: Shape[] = [
  {
    name: 'Anthropic JSON',
    provider: 'anthropic',
    path: '/v1/messages',
    request: { model: 'm', max_tokens: 50, messages: [{ role: 'user', content: 'hello' }] },
    reply: (count) => ({
      contentType: 'application/json',
      body: `{"type":"message","content":[],"usage":{"input_tokens":9,"output_tokens":${count}}}`,
    }),
  },
  {
    name: 'Anthropic SSE',
    provider: 'anthropic',
    path: '/v1/messages',
    request: { model: 'm', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hello' }] },
    reply: (count) => ({
      contentType: 'text/event-stream',
      body: sse([
        '{"type":"message_start","message":{"usage":{"input_tokens":9,"output_tokens":1}}}',
        `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":${count}}}`,
        '{"type":"message_stop"}',
      ]),
    }),
  },
  {
    name: 'OpenAI JSON',
    provider: 'openai',
    path: '/v1/chat/completions',
    request: { model: 'm', max_tokens: 50, messages: [{ role: 'user', content: 'hello' }] },
    reply: (count) => ({
      contentType: 'application/json',
      body: `{"object":"chat.completion","choices":[],"usage":{"prompt_tokens":${count},"completion_tokens":3}}`,
    }),
  },
  {
    name: 'OpenAI SSE',
    provider: 'openai',
    path: '/v1/chat/completions',
    request: {
      model: 'm',
      max_tokens: 50,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'hello' }],
    },
    reply: (count) => ({
      contentType: 'text/event-stream',
      body: sse([
        '{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}',
        `{"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":${count}}}`,
        '[DONE]',
      ]),
    }),
  },
];

describe('usage that cannot be read keeps the reservation (issue 9 item 4)', () => {
  for (const shape of shapes) {
    for (const count of unreadableCounts) {
      it(`${shape.name}, a ${count.name} count: settled at the reservation, not 0/0`, async () => {
        const reply = shape.reply(count.json);
        const upstream = await harness.upstream((request, response) => {
          request.resume();
          request.once('end', () => {
            response.writeHead(200, { 'content-type': reply.contentType });
            response.end(reply.body);
          });
        });
        const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: shape.provider });
        const answer = await rawRequest(proxy.url, {
          method: 'POST',
          path: shape.path,
          headers: ['Content-Type', 'application/json'],
          body: JSON.stringify(shape.request),
        });
        expect(answer.status).toBe(200);
        expect(answer.body.toString()).toBe(reply.body);
        await proxy.close();
        const [row] = recordedRequests(dbPath);
        expect(row).toMatchObject({ outcome: 'ok', status: 200, output_tokens: 50 });
        expect(row?.input_tokens).toBe(row?.est_input_tokens);
        expect(row?.est_input_tokens).toBeGreaterThan(0);
      });
    }
  }

  it('an error answer whose usage cannot be read keeps its reservation too', async () => {
    const upstream = await harness.upstream((request, response) => {
      request.resume();
      request.once('end', () => {
        response.writeHead(400, { 'content-type': 'application/json' });
        response.end('{"type":"error","error":{"type":"invalid_request_error"},"usage":{"input_tokens":-3,"output_tokens":0}}');
      });
    });
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' });
    const answer = await rawRequest(proxy.url, {
      method: 'POST',
      path: '/v1/messages',
      headers: ['Content-Type', 'application/json'],
      body: JSON.stringify(shapes[0]?.request),
    });
    expect(answer.status).toBe(400);
    await proxy.close();
    expect(recordedRequests(dbPath)).toMatchObject([{ outcome: 'ok', status: 400, output_tokens: 50 }]);
  });
});
