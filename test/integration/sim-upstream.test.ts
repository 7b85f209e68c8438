import Anthropic from '@anthropic-ai/sdk';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { request, type IncomingHttpHeaders } from 'node:http';
import { createInterface } from 'node:readline';
import OpenAI from 'openai';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readReportedLimits } from '../../src/proxy/providers/rateLimitHeaders.js';
import type { ProviderName } from '../../src/proxy/providers/types.js';
import { createUsageTap } from '../../src/proxy/providers/usageTap.js';
import { startSimUpstream, type SimUpstream, type SimUpstreamOptions } from '../../src/sim/upstream.js';

interface RawReply {
  status: number;
  headers: IncomingHttpHeaders;
  /** The bytes as they came off the wire, still compressed if the sim compressed them. */
  body: Buffer;
}

interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
}

function send(base: string, path: string, options: SendOptions = {}): Promise<RawReply> {
  const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
  return new Promise((resolve, reject) => {
    const outgoing = request(
      new URL(path, base),
      {
        method: options.method ?? (payload ? 'POST' : 'GET'),
        headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...options.headers },
        agent: false,
      },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.once('end', () => resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: Buffer.concat(chunks) }));
        incoming.once('error', reject);
      },
    );
    outgoing.once('error', reject);
    outgoing.end(payload);
  });
}

async function usageOf(provider: ProviderName, reply: RawReply) {
  const tap = createUsageTap({
    provider,
    contentType: reply.headers['content-type'],
    contentEncoding: reply.headers['content-encoding'],
  });
  // Feed the body in small pieces, the way a proxy sees it arrive.
  for (let offset = 0; offset < reply.body.length; offset += 7) tap.write(reply.body.subarray(offset, offset + 7));
  return tap.end();
}

function sseEvents(body: Buffer): Array<{ event: string | undefined; data: string }> {
  return body
    .toString('utf8')
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((line) => line.startsWith('event: '))?.slice('event: '.length);
      const data = lines.find((line) => line.startsWith('data: '))?.slice('data: '.length) ?? '';
      return { event, data };
    });
}

const bytesOf = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));
const inputTokensOf = (value: unknown): number => Math.ceil(bytesOf(value) / 4);

const anthropicRequest = (extra: object = {}) => ({
  model: 'claude-sim',
  max_tokens: 100,
  messages: [{ role: 'user', content: 'Say something.' }],
  ...extra,
});
const chatRequest = (extra: object = {}) => ({
  model: 'gpt-sim',
  messages: [{ role: 'user', content: 'Say something.' }],
  ...extra,
});
const responsesRequest = (extra: object = {}) => ({ model: 'gpt-sim', input: 'Say something.', ...extra });

const started: SimUpstream[] = [];

async function startSim(options: SimUpstreamOptions = {}): Promise<SimUpstream> {
  const sim = await startSimUpstream(options);
  started.push(sim);
  return sim;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((sim) => sim.close()));
});

describe('sim upstream: Anthropic Messages API', () => {
  it('answers JSON whose usage the tap reads exactly, and reports its rate-limit headers', async () => {
    const clock = 1_700_000_000_000;
    const sim = await startSim({ now: () => clock, requestLimit: 100 });
    const body = anthropicRequest();
    const reply = await send(sim.url, '/v1/messages', { body });

    expect(reply.status).toBe(200);
    const message = JSON.parse(reply.body.toString('utf8'));
    expect(message).toMatchObject({ type: 'message', role: 'assistant', model: 'claude-sim', stop_reason: 'end_turn' });
    expect(message.content[0].type).toBe('text');
    const expectedUsage = { inputTokens: inputTokensOf(body), outputTokens: 50 };
    expect(await usageOf('anthropic', reply)).toEqual(expectedUsage);
    expect(sim.stats()).toMatchObject({
      requests: 1,
      rateLimited: 0,
      inputTokens: expectedUsage.inputTokens,
      outputTokens: 50,
      tokensServed: expectedUsage.inputTokens + 50,
      arrivals: [clock],
    });
    expect(readReportedLimits('anthropic', reply.headers, clock)).toEqual({
      tokenLimit: 10_000,
      tokenRemaining: 10_000 - expectedUsage.inputTokens - 50,
      tokenResetMs: 60_000,
      requestLimit: 100,
      requestRemaining: 99,
      requestResetMs: 60_000,
    });
  });

  it('caps the answer at max_tokens and says so', async () => {
    const sim = await startSim({ outputTokens: 80 });
    const reply = await send(sim.url, '/v1/messages', { body: anthropicRequest({ max_tokens: 12 }) });
    const message = JSON.parse(reply.body.toString('utf8'));
    expect(message.stop_reason).toBe('max_tokens');
    expect(message.usage.output_tokens).toBe(12);
  });

  it('streams the real event sequence, with cumulative usage the tap reads exactly', async () => {
    const sim = await startSim({ streamChunks: 4, outputTokens: 30 });
    const body = anthropicRequest({ stream: true });
    const reply = await send(sim.url, '/v1/messages', { body });

    expect(reply.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = sseEvents(reply.body);
    expect(events.map((event) => event.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const event of events) expect(JSON.parse(event.data).type).toBe(event.event);
    expect(await usageOf('anthropic', reply)).toEqual({ inputTokens: inputTokensOf(body), outputTokens: 30 });
    expect(sim.stats().outputTokens).toBe(30);
  });

  it('is read correctly by the official Anthropic SDK, streaming and not', async () => {
    const sim = await startSim({ outputTokens: 20 });
    const client = new Anthropic({ baseURL: sim.url, apiKey: 'sk-test', maxRetries: 0 });
    const message = await client.messages.create(anthropicRequest() as Anthropic.MessageCreateParamsNonStreaming);
    expect(message.usage.output_tokens).toBe(20);

    const stream = client.messages.stream(anthropicRequest() as Anthropic.MessageCreateParamsStreaming);
    const final = await stream.finalMessage();
    expect(final.usage.output_tokens).toBe(20);
    expect(final.content[0]?.type).toBe('text');
    expect(final.stop_reason).toBe('end_turn');
  });
});

describe('sim upstream: OpenAI APIs', () => {
  it('answers chat completions JSON with prompt and completion tokens', async () => {
    const sim = await startSim();
    const body = chatRequest({ max_completion_tokens: 40 });
    const reply = await send(sim.url, '/v1/chat/completions', { body });
    const completion = JSON.parse(reply.body.toString('utf8'));
    expect(completion).toMatchObject({ object: 'chat.completion', choices: [{ finish_reason: 'length' }] });
    expect(await usageOf('openai', reply)).toEqual({ inputTokens: inputTokensOf(body), outputTokens: 40 });
    expect(readReportedLimits('openai', reply.headers, Date.now())).toMatchObject({
      tokenLimit: 10_000,
      tokenRemaining: 10_000 - inputTokensOf(body) - 40,
      tokenResetMs: 60_000,
    });
  });

  it('streams chat chunks with a final usage chunk only when include_usage asks for it', async () => {
    const sim = await startSim({ streamChunks: 3, outputTokens: 9 });
    const withUsage = chatRequest({ stream: true, stream_options: { include_usage: true } });
    const reply = await send(sim.url, '/v1/chat/completions', { body: withUsage });
    const events = sseEvents(reply.body);
    expect(events.at(-1)?.data).toBe('[DONE]');
    const usageChunk = JSON.parse(events.at(-2)?.data ?? '{}');
    expect(usageChunk).toMatchObject({ object: 'chat.completion.chunk', choices: [] });
    expect(await usageOf('openai', reply)).toEqual({ inputTokens: inputTokensOf(withUsage), outputTokens: 9 });

    const without = await send(sim.url, '/v1/chat/completions', { body: chatRequest({ stream: true }) });
    expect(await usageOf('openai', without)).toBeNull();
    expect(sim.stats().outputTokens).toBe(18);
  });

  it('answers the Responses API as JSON and as a stream ending in response.completed', async () => {
    const sim = await startSim({ outputTokens: 25 });
    const body = responsesRequest();
    const json = await send(sim.url, '/v1/responses', { body });
    expect(JSON.parse(json.body.toString('utf8'))).toMatchObject({ object: 'response', status: 'completed' });
    expect(await usageOf('openai', json)).toEqual({ inputTokens: inputTokensOf(body), outputTokens: 25 });

    const streamed = responsesRequest({ stream: true });
    const reply = await send(sim.url, '/v1/responses', { body: streamed });
    const events = sseEvents(reply.body);
    expect(events[0]?.event).toBe('response.created');
    expect(events.at(-1)?.event).toBe('response.completed');
    expect(events.map((event) => JSON.parse(event.data).sequence_number)).toEqual(events.map((_, index) => index));
    expect(await usageOf('openai', reply)).toEqual({ inputTokens: inputTokensOf(streamed), outputTokens: 25 });
  });

  it('ends a Responses stream cut short by max_output_tokens with response.incomplete', async () => {
    const sim = await startSim({ outputTokens: 25 });
    const reply = await send(sim.url, '/v1/responses', { body: responsesRequest({ stream: true, max_output_tokens: 16 }) });
    expect(sseEvents(reply.body).at(-1)?.event).toBe('response.incomplete');
    expect(await usageOf('openai', reply)).toMatchObject({ outputTokens: 16 });
  });

  it('is read correctly by the official OpenAI SDK', async () => {
    const sim = await startSim({ outputTokens: 15 });
    const client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: 'gpt-sim', messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.usage?.completion_tokens).toBe(15);

    const chunks = await client.chat.completions.create({
      model: 'gpt-sim',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let completionTokens = 0;
    for await (const chunk of chunks) {
      text += chunk.choices[0]?.delta.content ?? '';
      completionTokens = chunk.usage?.completion_tokens ?? completionTokens;
    }
    expect(text.split(' ')).toHaveLength(15);
    expect(completionTokens).toBe(15);

    const final = await client.responses.stream({ model: 'gpt-sim', input: 'hi' }).finalResponse();
    expect(final.usage?.output_tokens).toBe(15);
    expect(final.output_text.split(' ')).toHaveLength(15);
  });
});

describe('sim upstream: compression', () => {
  it.each(['gzip', 'br'] as const)('compresses JSON and SSE with %s when the client accepts it', async (coding) => {
    const sim = await startSim({ compress: coding, outputTokens: 10 });
    const accept = { 'accept-encoding': `${coding}, identity` };
    const body = anthropicRequest();
    const json = await send(sim.url, '/v1/messages', { body, headers: accept });
    expect(json.headers['content-encoding']).toBe(coding);
    expect(await usageOf('anthropic', json)).toEqual({ inputTokens: inputTokensOf(body), outputTokens: 10 });

    const streamedBody = anthropicRequest({ stream: true });
    const stream = await send(sim.url, '/v1/messages', { body: streamedBody, headers: accept });
    expect(stream.headers['content-encoding']).toBe(coding);
    expect(await usageOf('anthropic', stream)).toEqual({ inputTokens: inputTokensOf(streamedBody), outputTokens: 10 });
  });

  it('sends identity to a client that does not accept the coding', async () => {
    const sim = await startSim({ compress: 'gzip' });
    const reply = await send(sim.url, '/v1/messages', { body: anthropicRequest(), headers: { 'accept-encoding': 'br, gzip;q=0' } });
    expect(reply.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(reply.body.toString('utf8')).type).toBe('message');
  });
});

describe('sim upstream: sliding window', () => {
  it('fills, answers 429 with Retry-After until the oldest usage ages out, then slides', async () => {
    const start = 1_700_000_000_000;
    let clock = start;
    const sim = await startSim({ now: () => clock, tokenLimit: 100, outputTokens: 10 });
    const body = anthropicRequest();
    const cost = inputTokensOf(body) + 10;
    const admitted = Math.ceil(100 / cost);

    for (let index = 0; index < admitted; index++) {
      expect((await send(sim.url, '/v1/messages', { body })).status).toBe(200);
      clock += 1000;
    }
    expect(sim.isExhausted()).toBe(true);

    const refused = await send(sim.url, '/v1/messages', { body });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body.toString('utf8'))).toEqual({
      type: 'error',
      error: { type: 'rate_limit_error', message: expect.stringContaining('rate limit') },
    });
    // Dropping the first request's usage is enough to get below the limit again.
    const untilRoomMs = start + 60_000 - clock;
    expect(refused.headers['retry-after-ms']).toBe(String(untilRoomMs));
    expect(refused.headers['retry-after']).toBe(String(Math.ceil(untilRoomMs / 1000)));
    expect(readReportedLimits('anthropic', refused.headers, clock)).toMatchObject({ retryAfterMs: untilRoomMs, tokenRemaining: 0 });

    clock = start + 60_000 - 1;
    expect((await send(sim.url, '/v1/messages', { body })).status).toBe(429);
    clock = start + 60_000;
    expect(sim.isExhausted()).toBe(false);
    expect((await send(sim.url, '/v1/messages', { body })).status).toBe(200);

    const stats = sim.stats();
    expect(stats).toMatchObject({ requests: admitted + 3, rateLimited: 2, receivedWhileExhausted: 2 });
    expect(stats.tokensServed).toBe((admitted + 1) * cost);
    const quietFrom = start + admitted * 1000 + 1;
    expect(stats.arrivals.filter((at) => at >= quietFrom && at < start + 60_000 - 1)).toEqual([]);
  });

  it('limits requests per window and answers OpenAI-shaped 429s', async () => {
    let clock = 5_000_000;
    const sim = await startSim({ now: () => clock, requestLimit: 2, windowMs: 10_000 });
    expect((await send(sim.url, '/v1/chat/completions', { body: chatRequest() })).status).toBe(200);
    clock += 4000;
    expect((await send(sim.url, '/v1/chat/completions', { body: chatRequest() })).status).toBe(200);
    const refused = await send(sim.url, '/v1/chat/completions', { body: chatRequest() });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body.toString('utf8')).error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });
    expect(readReportedLimits('openai', refused.headers, clock)).toMatchObject({
      requestLimit: 2,
      requestRemaining: 0,
      requestResetMs: 10_000,
      retryAfterMs: 6000,
    });
    clock += 6000;
    expect((await send(sim.url, '/v1/chat/completions', { body: chatRequest() })).status).toBe(200);
  });

  it('counts streamed output as it is generated, so an aborted stream costs only what was sent', async () => {
    const sim = await startSim({ streamChunks: 5, outputTokens: 50, streamDelayMs: 100 });
    const body = Buffer.from(JSON.stringify(anthropicRequest({ stream: true })));
    await new Promise<void>((resolve, reject) => {
      const outgoing = request(`${sim.url}/v1/messages`, { method: 'POST', agent: false }, (incoming) => {
        incoming.on('data', (chunk: Buffer) => {
          if (chunk.toString('utf8').includes('content_block_delta')) {
            outgoing.destroy();
            resolve();
          }
        });
      });
      outgoing.once('error', (error) => (outgoing.destroyed ? undefined : reject(error)));
      outgoing.end(body);
    });
    // Whenever the sim has noticed the hang-up: some tokens, not all (the rest would take 300 ms more).
    await vi.waitFor(() => expect(sim.stats().outputTokens).toBeGreaterThan(0), { timeout: 10_000, interval: 20 });
    expect(sim.stats().outputTokens).toBeLessThan(50);
  });

  it('can leave out Retry-After and the rate-limit headers', async () => {
    const sim = await startSim({ tokenLimit: 1, retryAfterMode: 'none', reportLimits: false });
    await send(sim.url, '/v1/messages', { body: anthropicRequest() });
    const refused = await send(sim.url, '/v1/messages', { body: anthropicRequest() });
    expect(refused.status).toBe(429);
    expect(readReportedLimits('anthropic', refused.headers, Date.now())).toEqual({});
  });
});

describe('sim upstream: token bucket (Anthropic)', () => {
  it('refuses a request whose input + max_tokens is not in the bucket, though the bucket is not empty', async () => {
    let clock = 1_700_000_000_000;
    const sim = await startSim({ shape: 'token-bucket', now: () => clock, tokenLimit: 10_000, windowMs: 600_000, outputTokens: 5_000 });
    const big = anthropicRequest({ max_tokens: 5_000 });
    const first = await send(sim.url, '/v1/messages', { body: big });
    expect(first.status).toBe(200);
    const left = 10_000 - inputTokensOf(big) - 5_000;
    // Reported at the start of the answer, rounded to the nearest thousand as Anthropic does.
    expect(first.headers['anthropic-ratelimit-tokens-remaining']).toBe(String(Math.round(left / 1000) * 1000));

    const bigger = anthropicRequest({ max_tokens: 6_000 });
    const refused = await send(sim.url, '/v1/messages', { body: bigger });
    expect(refused.status).toBe(429);
    expect(sim.isExhausted()).toBe(false);
    const need = inputTokensOf(bigger) + 6_000;
    const untilFitsMs = Math.ceil(((need - left) * 600_000) / 10_000);
    expect(refused.headers['retry-after-ms']).toBe(String(untilFitsMs));
    // *-reset: when the bucket is full again, in whole seconds, never early.
    const reset = Date.parse(String(refused.headers['anthropic-ratelimit-tokens-reset']));
    const fullAt = clock + Math.ceil(((10_000 - left) * 600_000) / 10_000);
    expect(reset).toBeGreaterThanOrEqual(fullAt);
    expect(reset - fullAt).toBeLessThan(1_000);

    // A smaller need fits what is left.
    expect((await send(sim.url, '/v1/messages', { body: anthropicRequest({ max_tokens: 100 }) })).status).toBe(200);
    clock += untilFitsMs + 60_000;
    expect((await send(sim.url, '/v1/messages', { body: bigger })).status).toBe(200);
  });

  it('refills continuously and gives back the output a request did not generate', async () => {
    let clock = 1_700_000_000_000;
    const sim = await startSim({ shape: 'token-bucket', now: () => clock, tokenLimit: 10_000, windowMs: 600_000, outputTokens: 5_000 });
    const body = anthropicRequest({ max_tokens: 9_000, stream: true });
    expect((await send(sim.url, '/v1/messages', { body })).status).toBe(200);
    // 9 000 were reserved at arrival, 5 000 generated: the bucket is short of the real cost only.
    expect(sim.windowUsage().tokens).toBe(inputTokensOf(body) + 5_000);
    clock += 30_000;
    expect(sim.windowUsage().tokens).toBeCloseTo(inputTokensOf(body) + 5_000 - 500);
  });

  it('limits requests next to tokens, and says which limit refused', async () => {
    const clock = 1_700_000_000_000;
    const sim = await startSim({ shape: 'token-bucket', now: () => clock, requestLimit: 2, windowMs: 60_000 });
    expect((await send(sim.url, '/v1/messages', { body: anthropicRequest() })).status).toBe(200);
    const second = await send(sim.url, '/v1/messages', { body: anthropicRequest() });
    expect(second.headers['anthropic-ratelimit-requests-remaining']).toBe('0');
    const refused = await send(sim.url, '/v1/messages', { body: anthropicRequest() });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body.toString('utf8')).error.message).toMatch(/2 of 2 requests/);
  });

  it('has a second tenant on the same key that drains it without going through anyone, and counts requests sent inside an announced Retry-After', async () => {
    let clock = 1_700_000_000_000;
    const sim = await startSim({ shape: 'token-bucket', now: () => clock, tokenLimit: 10_000, windowMs: 600_000 });
    sim.setOtherTenant(100_000_000, 1_000);
    for (let step = 0; step < 200 && sim.stats().otherTenant.tokensServed < 10_000; step++) {
      clock += 100;
      await vi.waitFor(() => expect(sim.stats().otherTenant.requests).toBeGreaterThan(step), { timeout: 5_000, interval: 5 });
    }
    sim.setOtherTenant(0, 1_000);
    expect(sim.stats().otherTenant.tokensServed).toBeGreaterThanOrEqual(10_000);
    const refused = await send(sim.url, '/v1/messages', { body: anthropicRequest() });
    expect(refused.status).toBe(429);
    expect(sim.stats().receivedInsideRetryAfter).toBe(0);
    await send(sim.url, '/v1/messages', { body: anthropicRequest() });
    expect(sim.stats()).toMatchObject({ requests: 2, rateLimited: 2, receivedInsideRetryAfter: 1 });
  });
});

describe('sim upstream: utility routes', () => {
  it('echoes what it received and remembers the last request', async () => {
    const sim = await startSim();
    const reply = await send(sim.url, '/some/path?a=1&b=two', {
      method: 'PUT',
      headers: { 'x-custom': 'kept', authorization: 'Bearer secret' },
      body: { hello: 'world' },
    });
    const echo = JSON.parse(reply.body.toString('utf8'));
    expect(echo).toMatchObject({ method: 'PUT', path: '/some/path', query: { a: '1', b: 'two' }, bodyBytes: bytesOf({ hello: 'world' }) });
    expect(echo.headers).toMatchObject({ 'x-custom': 'kept', authorization: 'Bearer secret' });
    const last = sim.lastRequest();
    expect(last).toMatchObject({ method: 'PUT', url: '/some/path?a=1&b=two' });
    expect(JSON.parse(last?.body.toString('utf8') ?? '')).toEqual({ hello: 'world' });
  });

  it('answers /status/NNN with that status and an optional Retry-After', async () => {
    const sim = await startSim();
    const unavailable = await send(sim.url, '/status/503');
    expect(unavailable.status).toBe(503);
    const limited = await send(sim.url, '/status/429?retry-after=3');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('3');
    expect((await send(sim.url, '/status/204')).body.length).toBe(0);
    expect(sim.stats().rateLimited).toBe(1);
  });

  it('waits on /slow before answering', async () => {
    const sim = await startSim();
    const began = Date.now();
    const reply = await send(sim.url, '/slow?ms=120');
    expect(Date.now() - began).toBeGreaterThanOrEqual(110);
    expect(JSON.parse(reply.body.toString('utf8'))).toEqual({ sleptMs: 120 });
  });
});

describe('sim upstream: modes and shutdown', () => {
  it('always-429 refuses everything, and normal mode serves again', async () => {
    const sim = await startSim();
    sim.setMode('always-429');
    const refused = await send(sim.url, '/v1/responses', { body: responsesRequest() });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body.toString('utf8')).error.code).toBe('rate_limit_exceeded');
    expect(refused.headers['retry-after']).toBe('1');
    expect(sim.stats()).toMatchObject({ rateLimited: 1, receivedWhileExhausted: 0 });
    sim.setMode('normal');
    expect((await send(sim.url, '/v1/responses', { body: responsesRequest() })).status).toBe(200);
  });

  it('down drops connections without counting requests', async () => {
    const sim = await startSim();
    sim.setMode('down');
    await expect(send(sim.url, '/v1/messages', { body: anthropicRequest() })).rejects.toThrow();
    expect(sim.stats().requests).toBe(0);
  });

  it('hang never answers, and close() still returns promptly and frees the client', async () => {
    const sim = await startSim();
    sim.setMode('hang');
    const pending = send(sim.url, '/v1/messages', { body: anthropicRequest() });
    const outcome = pending.then(
      () => 'answered',
      () => 'failed',
    );
    await vi.waitFor(() => expect(sim.lastRequest()?.url).toBe('/v1/messages'), { timeout: 10_000, interval: 20 });
    expect(sim.stats().requests).toBe(1);
    // A hung request never ends by itself: close() returning at all (within the test timeout) is the proof.
    await sim.close();
    expect(await outcome).toBe('failed');
  });

  it('closes mid-stream and mid-sleep without hanging', async () => {
    const sim = await startSim({ streamDelayMs: 10_000 });
    const streaming = send(sim.url, '/v1/messages', { body: anthropicRequest({ stream: true }) }).catch(() => null);
    const sleeping = send(sim.url, '/slow?ms=10000').catch(() => null);
    // Both must be in progress when the sim closes: mid-stream and mid-sleep by construction.
    await vi.waitFor(() => expect(sim.stats().requests).toBe(2), { timeout: 10_000, interval: 20 });
    const began = Date.now();
    await sim.close();
    await Promise.all([streaming, sleeping]);
    // It did not wait for the 10 s stream delay or sleep to run out.
    expect(Date.now() - began).toBeLessThan(10_000);
  });

  it('resetStats clears the counters but not the window', async () => {
    const sim = await startSim({ tokenLimit: 1 });
    await send(sim.url, '/v1/messages', { body: anthropicRequest() });
    sim.resetStats();
    expect(sim.stats()).toEqual({
      requests: 0,
      rateLimited: 0,
      receivedWhileExhausted: 0,
      receivedInsideRetryAfter: 0,
      tokensServed: 0,
      inputTokens: 0,
      outputTokens: 0,
      arrivals: [],
      otherTenant: { requests: 0, rateLimited: 0, tokensServed: 0 },
    });
    expect(sim.isExhausted()).toBe(true);
  });
});

describe('sim upstream: standalone process', () => {
  it('prints its URL as one JSON line and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/sim/upstreamMain.ts', '--token-limit', '1'], {
      cwd: new URL('../..', import.meta.url),
      env: { ...process.env, SIM_UPSTREAM_OUTPUT_TOKENS: '3' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
      const { url } = JSON.parse(line) as { url: string };
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const reply = await send(url, '/v1/messages', { body: anthropicRequest() });
      expect(JSON.parse(reply.body.toString('utf8')).usage.output_tokens).toBe(3);
      expect((await send(url, '/v1/messages', { body: anthropicRequest() })).status).toBe(429);
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
