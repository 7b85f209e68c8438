import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, postJson, recordedRequests, lastScope } from './harness.js';

/*
 * Every upstream here is on 127.0.0.1, a host that names no provider: before ratewarden chose
 * the provider per request, `--provider auto` read all of this as generic.
 */
const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

const question = [{ role: 'user' as const, content: 'What is a sliding window?' }];

describe('--provider auto in front of an upstream on 127.0.0.1', () => {
  it('reads an OpenAI-shaped request as OpenAI: exact usage, and the x-ratelimit-* limits', async () => {
    const sim = await harness.sim({ tokenLimit: 25_000, requestLimit: 40, outputTokens: 30 });
    const { proxy, dbPath } = await harness.proxy({ upstream: sim.url });
    expect(proxy.provider).toBe('auto');
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 0 });

    const completion = await client.chat.completions.create({ model: 'gpt-sim', max_completion_tokens: 20, messages: question });
    const stream = await client.chat.completions.create({
      model: 'gpt-sim',
      max_tokens: 15,
      messages: question,
      stream: true,
      stream_options: { include_usage: true },
    });
    let streamedUsage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) streamedUsage = chunk.usage ?? streamedUsage;
    const response = await client.responses.create({ model: 'gpt-sim', max_output_tokens: 12, input: 'What is a sliding window?' });

    expect(await proxy.warden.views.readState(lastScope(proxy.warden))).toMatchObject({
      reportedTokenLimit: 25_000,
      reportedRequestLimit: 40,
    });
    await proxy.close();
    expect(recordedRequests(dbPath)).toMatchObject([
      {
        path: '/v1/chat/completions',
        outcome: 'ok',
        est_output_tokens: 20,
        input_tokens: completion.usage?.prompt_tokens,
        output_tokens: completion.usage?.completion_tokens,
      },
      { path: '/v1/chat/completions', outcome: 'ok', est_output_tokens: 15, input_tokens: streamedUsage?.prompt_tokens, output_tokens: 15 },
      {
        path: '/v1/responses',
        outcome: 'ok',
        est_output_tokens: 12,
        input_tokens: response.usage?.input_tokens,
        output_tokens: response.usage?.output_tokens,
      },
    ]);
  });

  it('reads an Anthropic-shaped request as Anthropic: exact usage, and the anthropic-ratelimit-* limits', async () => {
    const sim = await harness.sim({ tokenLimit: 32_000, requestLimit: 50, outputTokens: 30 });
    const { proxy, dbPath } = await harness.proxy({ upstream: sim.url });
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: proxy.url, maxRetries: 0 });

    const message = await client.messages.create({ model: 'claude-sim', max_tokens: 20, messages: question });
    const streamed = await client.messages.stream({ model: 'claude-sim', max_tokens: 25, messages: question }).finalMessage();

    expect(await proxy.warden.views.readState(lastScope(proxy.warden))).toMatchObject({
      reportedTokenLimit: 32_000,
      reportedRequestLimit: 50,
    });
    await proxy.close();
    expect(recordedRequests(dbPath)).toMatchObject([
      { outcome: 'ok', input_tokens: message.usage.input_tokens, output_tokens: message.usage.output_tokens },
      { outcome: 'ok', input_tokens: streamed.usage.input_tokens, output_tokens: 25 },
    ]);
  });

  it('reserves no tokens for a token count, and no output for an embedding, whose usage it reads', async () => {
    const upstream = await harness.upstream((request, response) => {
      request.resume();
      const body =
        request.url === '/v1/messages/count_tokens'
          ? { input_tokens: 17 }
          : { object: 'list', data: [], model: 'emb-sim', usage: { prompt_tokens: 8, total_tokens: 8 } };
      response.writeHead(200, { 'content-type': 'application/json', 'x-ratelimit-limit-requests': '77' });
      response.end(JSON.stringify(body));
    });
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url });
    const anthropic = new Anthropic({ apiKey: 'sk-ant-test', baseURL: proxy.url, maxRetries: 0 });
    const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 0 });

    expect((await anthropic.messages.countTokens({ model: 'claude-sim', messages: question })).input_tokens).toBe(17);
    expect((await openai.embeddings.create({ model: 'emb-sim', input: 'a sliding window' })).usage.prompt_tokens).toBe(8);

    expect((await proxy.warden.views.readState(lastScope(proxy.warden))).reportedRequestLimit).toBe(77);
    await proxy.close();
    const [counted, embedded] = recordedRequests(dbPath);
    expect(counted).toMatchObject({ path: '/v1/messages/count_tokens', outcome: 'ok', est_input_tokens: 0, est_output_tokens: 0 });
    expect(embedded).toMatchObject({ path: '/v1/embeddings', outcome: 'ok', est_output_tokens: 0, input_tokens: 8, output_tokens: 0 });
    expect(embedded?.est_input_tokens).toBeGreaterThan(0);
  });

  it('answers a local 429 in each request’s own shape, which each official SDK parses as its RateLimitError', async () => {
    const sim = await harness.sim({ retryAfterMode: 'none' });
    const { proxy } = await harness.proxy({ upstream: sim.url, backoffBase: '30s' });
    const anthropic = new Anthropic({ apiKey: 'sk-ant-test', baseURL: proxy.url, maxRetries: 0 });
    const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 0 });
    sim.setMode('always-429');
    await expect(anthropic.messages.create({ model: 'claude-sim', max_tokens: 20, messages: question })).rejects.toBeInstanceOf(
      Anthropic.RateLimitError,
    );
    sim.setMode('normal');

    const fromAnthropic = await anthropic.messages
      .create({ model: 'claude-sim', max_tokens: 20, messages: question })
      .catch((error: unknown) => error);
    expect(fromAnthropic).toBeInstanceOf(Anthropic.RateLimitError);
    const anthropicError = fromAnthropic as InstanceType<typeof Anthropic.RateLimitError>;
    expect(anthropicError.headers?.get('x-ratewarden-reason')).toBe('cooldown');
    expect(anthropicError.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });

    // Another key and model: another scope, which the Anthropic cooldown does not hold; it gets its own.
    sim.setMode('always-429');
    await expect(openai.chat.completions.create({ model: 'gpt-sim', messages: question })).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    sim.setMode('normal');
    const fromOpenAi = await openai.chat.completions.create({ model: 'gpt-sim', messages: question }).catch((error: unknown) => error);
    expect(fromOpenAi).toBeInstanceOf(OpenAI.RateLimitError);
    const openAiError = fromOpenAi as InstanceType<typeof OpenAI.RateLimitError>;
    expect(openAiError.headers?.get('x-ratewarden-reason')).toBe('cooldown');
    expect(openAiError.code).toBe('rate_limit_exceeded');
    expect(openAiError.type).toBe('rate_limit_exceeded');

    // The OpenAI request's key and model: its scope, which is cooling.
    const generic = await postJson(`${proxy.url}/v1/search`, JSON.stringify({ query: 'window', model: 'gpt-sim' }), {
      authorization: 'Bearer sk-test',
    });
    expect(generic.status).toBe(429);
    expect(await generic.json()).toMatchObject({ error: { type: 'rate_limit' } });

    // One 429 per scope reached the upstream; every later request was answered locally.
    expect(sim.stats().requests).toBe(2);
  });

  it('answers a reserved path in the shape the request’s headers name', async () => {
    const sim = await harness.sim();
    const { proxy } = await harness.proxy({ upstream: sim.url });
    const answer = await fetch(`${proxy.url}/_ratewarden/nothing`, { headers: { 'anthropic-version': '2023-06-01' } });
    expect(answer.status).toBe(404);
    expect(await answer.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });
});
