import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, recordedRequests } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

const question = [{ role: 'user' as const, content: 'What is a sliding window?' }];

describe('the official Anthropic SDK pointed at the proxy', () => {
  it('completes a plain and a streaming call, and both are accounted exactly', async () => {
    const sim = await harness.sim({ outputTokens: 30 });
    const { proxy, dbPath } = await harness.proxy({ upstream: sim.url, provider: 'anthropic' });
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: proxy.url, maxRetries: 0 });

    const message = await client.messages.create({ model: 'claude-sim', max_tokens: 20, messages: question });
    expect(message.content[0]).toMatchObject({ type: 'text' });
    const streamed = await client.messages.stream({ model: 'claude-sim', max_tokens: 25, messages: question }).finalMessage();
    expect(streamed.usage.output_tokens).toBe(25);

    await proxy.close();
    expect(recordedRequests(dbPath)).toMatchObject([
      { outcome: 'ok', input_tokens: message.usage.input_tokens, output_tokens: message.usage.output_tokens },
      { outcome: 'ok', input_tokens: streamed.usage.input_tokens, output_tokens: 25 },
    ]);
  });

  it('receives a local 429 as its own RateLimitError', async () => {
    const sim = await harness.sim({ retryAfterMode: 'none' });
    const { proxy } = await harness.proxy({ upstream: sim.url, provider: 'anthropic', backoffBase: '30s' });
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: proxy.url, maxRetries: 0 });
    sim.setMode('always-429');
    await expect(client.messages.create({ model: 'claude-sim', max_tokens: 20, messages: question })).rejects.toBeInstanceOf(
      Anthropic.RateLimitError,
    );
    sim.setMode('normal');

    const local = await client.messages
      .create({ model: 'claude-sim', max_tokens: 20, messages: question })
      .catch((error: unknown) => error);
    expect(local).toBeInstanceOf(Anthropic.RateLimitError);
    const error = local as InstanceType<typeof Anthropic.RateLimitError>;
    expect(error.status).toBe(429);
    expect(error.headers?.get('x-ratewarden-reason')).toBe('cooldown');
    expect(error.headers?.get('retry-after')).toBe('30');
    expect(error.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(sim.stats().requests).toBe(1);
  });
});

describe('the official OpenAI SDK pointed at the proxy', () => {
  it('completes a plain and a streaming call, and both are accounted exactly', async () => {
    const sim = await harness.sim({ outputTokens: 30 });
    const { proxy, dbPath } = await harness.proxy({ upstream: sim.url, provider: 'openai' });
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 0 });

    const completion = await client.chat.completions.create({ model: 'gpt-sim', max_completion_tokens: 20, messages: question });
    expect(completion.choices[0]?.message.content).toBeTruthy();
    const stream = await client.chat.completions.create({
      model: 'gpt-sim',
      max_tokens: 15,
      messages: question,
      stream: true,
      stream_options: { include_usage: true },
    });
    let streamedUsage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) streamedUsage = chunk.usage ?? streamedUsage;
    expect(streamedUsage?.completion_tokens).toBe(15);

    await proxy.close();
    expect(recordedRequests(dbPath)).toMatchObject([
      { outcome: 'ok', input_tokens: completion.usage?.prompt_tokens, output_tokens: completion.usage?.completion_tokens },
      { outcome: 'ok', input_tokens: streamedUsage?.prompt_tokens, output_tokens: 15 },
    ]);
  });

  it('receives a local 429 as its own RateLimitError', async () => {
    const sim = await harness.sim({ retryAfterMode: 'none' });
    const { proxy } = await harness.proxy({ upstream: sim.url, provider: 'openai', backoffBase: '30s' });
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 0 });
    sim.setMode('always-429');
    await expect(client.chat.completions.create({ model: 'gpt-sim', messages: question })).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    sim.setMode('normal');

    const local = await client.chat.completions.create({ model: 'gpt-sim', messages: question }).catch((error: unknown) => error);
    expect(local).toBeInstanceOf(OpenAI.RateLimitError);
    const error = local as InstanceType<typeof OpenAI.RateLimitError>;
    expect(error.status).toBe(429);
    expect(error.code).toBe('rate_limit_exceeded');
    expect(error.headers?.get('x-ratewarden-reason')).toBe('cooldown');
    expect(sim.stats().requests).toBe(1);
  });
});
