import Anthropic from '@anthropic-ai/sdk';
import { request, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startAnthropicUpstream, type AnthropicUpstream, type AnthropicUpstreamOptions } from '../../src/sim/anthropicUpstream.js';

const tier1 = { requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 };
const options: AnthropicUpstreamOptions = {
  timeScale: 1,
  keys: { 'key-a': { organization: 'org-1' }, 'key-b': { organization: 'org-1' }, 'key-c': { organization: 'org-2' } },
  classes: [{ prefix: 'claude-sonnet', name: 'sonnet', limits: tier1, minCacheableTokens: 1_024 }],
  rounding: 'none',
};
// Real time (scale 1), answers generated at once: no figure below depends on how fast the machine is.
const instant: AnthropicUpstreamOptions = { ...options, tokensPerSecond: [1_000_000, 1_000_000], firstTokenMs: [0, 0] };

let upstream: AnthropicUpstream | null = null;
const open: IncomingMessage[] = [];
afterEach(async () => {
  for (const response of open.splice(0)) response.destroy();
  await upstream?.close();
  upstream = null;
});

const system = [{ type: 'text', text: 'x'.repeat(8_000), cache_control: { type: 'ephemeral' } }];
const body = (maxTokens: number, stream = true): object => ({
  model: 'claude-sonnet-4-6',
  max_tokens: maxTokens,
  stream,
  system,
  messages: [{ role: 'user', content: 'hello' }],
});

/** Sends a request and resolves at the response head, leaving the body unread. */
function head(url: string, key: string, payload: object, extra: Record<string, string> = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      `${url}/v1/messages`,
      { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key, ...extra }, agent: false },
      (response) => {
        open.push(response);
        resolve(response);
      },
    );
    outgoing.once('error', reject);
    outgoing.end(JSON.stringify(payload));
  });
}

function text(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.once('error', reject);
  });
}

describe('the simulated Anthropic upstream', () => {
  it('sends the rate-limit headers on the response head, with max_tokens already charged to OTPM', async () => {
    // A first token 60 s away: the stream is surely still open when the head is checked.
    upstream = await startAnthropicUpstream({ ...options, firstTokenMs: [60_000, 60_000] });
    const response = await head(upstream.url, 'key-a', body(6_000));
    expect(response.statusCode).toBe(200);
    expect(upstream.arrivals()[0]?.outputTokens).toBeNull();
    expect(response.headers['anthropic-organization-id']).toBe('org-1');
    expect(response.headers['anthropic-ratelimit-output-tokens-limit']).toBe('8000');
    // 8 000 less the 6 000 pre-charged, plus what refilled meanwhile (133 a second): far below a bucket without the pre-charge.
    expect(Number(response.headers['anthropic-ratelimit-output-tokens-remaining'])).toBeLessThan(4_000);
    expect(response.headers['anthropic-ratelimit-input-tokens-limit']).toBe('30000');
    expect(response.headers['anthropic-ratelimit-requests-limit']).toBe('50');
    expect(response.headers['anthropic-ratelimit-tokens-limit']).toBe('8000');
  });

  it('shares the buckets between the keys of one organization and answers 429 with Retry-After, not across organizations', async () => {
    upstream = await startAnthropicUpstream({ ...options, firstTokenMs: [60_000, 60_000] });
    await head(upstream.url, 'key-a', body(32_000));
    const refused = await head(upstream.url, 'key-b', body(1_000));
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toMatch(/^\d+$/);
    expect(refused.headers['retry-after-ms']).toBeUndefined();
    expect(refused.headers['anthropic-organization-id']).toBe('org-1');
    expect(JSON.parse(await text(refused))).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect((await head(upstream.url, 'key-c', body(1_000))).statusCode).toBe(200);
    expect(upstream.arrivals().map((arrival) => [arrival.key, arrival.status, arrival.limitedBy])).toEqual([
      ['key-a', 200, []],
      ['key-b', 429, ['output-tokens']],
      ['key-c', 200, []],
    ]);
  });

  it('refunds the unused max_tokens when the answer ends', async () => {
    upstream = await startAnthropicUpstream(instant);
    const first = await head(upstream.url, 'key-a', body(6_000), { 'x-sim-answer-tokens': '300' });
    await text(first);
    const second = await head(upstream.url, 'key-a', body(100));
    // Without the refund 2 000 plus 133 a second of refill would be left; with it, all but the 300 used.
    expect(Number(second.headers['anthropic-ratelimit-output-tokens-remaining'])).toBeGreaterThanOrEqual(7_600);
  });

  it('streams usage as the Messages API does, cache write first and cache read after, through the official SDK', async () => {
    upstream = await startAnthropicUpstream(instant);
    const sdk = new Anthropic({ apiKey: 'key-a', baseURL: upstream.url, maxRetries: 0 });
    const params = {
      model: 'claude-sonnet-4-6',
      max_tokens: 32_000,
      system: system as Anthropic.TextBlockParam[],
      messages: [{ role: 'user' as const, content: 'hello' }],
    };
    const events: string[] = [];
    const stream = sdk.messages.stream(params, { headers: { 'x-sim-answer-tokens': '250' } });
    stream.on('streamEvent', (event) => events.push(event.type));
    const first = await stream.finalMessage();
    expect(first.usage).toMatchObject({
      input_tokens: 2,
      cache_creation_input_tokens: 2_000,
      cache_read_input_tokens: 0,
      output_tokens: 250,
    });
    expect(first.stop_reason).toBe('end_turn');
    expect(first.content[0]?.type === 'text' ? first.content[0].text.length : 0).toBe(1_000);
    expect(events[0]).toBe('message_start');
    expect(events.slice(-2)).toEqual(['message_delta', 'message_stop']);
    const second = await sdk.messages.stream({ ...params, max_tokens: 100 }, { headers: { 'x-sim-answer-tokens': '250' } }).finalMessage();
    expect(second.usage).toMatchObject({
      input_tokens: 2,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 2_000,
      output_tokens: 100,
    });
    expect(second.stop_reason).toBe('max_tokens');
  });

  it('refuses an unknown key with 401 and an unknown model with 404', async () => {
    upstream = await startAnthropicUpstream(options);
    expect((await head(upstream.url, 'key-x', body(10))).statusCode).toBe(401);
    expect((await head(upstream.url, 'key-a', { ...body(10), model: 'gpt-4o' })).statusCode).toBe(404);
  });
});
