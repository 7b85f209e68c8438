import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, postJson, recordedRequests } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

const question = [{ role: 'user' as const, content: 'What is a sliding window?' }];

describe('one proxy for every provider (--upstream anthropic=…,openai=…)', () => {
  it('sends the Anthropic SDK to the Anthropic upstream and the OpenAI SDK to the OpenAI one, each accounted', async () => {
    const anthropicSim = await harness.sim({ outputTokens: 30 });
    const openaiSim = await harness.sim({ outputTokens: 30 });
    const { proxy, dbPath } = await harness.proxy({ upstream: `anthropic=${anthropicSim.url},openai=${openaiSim.url}` });
    const claude = new Anthropic({ apiKey: 'sk-ant-test', baseURL: proxy.url, maxRetries: 0 });
    const gpt = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 0 });

    const message = await claude.messages.create({ model: 'claude-sim', max_tokens: 20, messages: question });
    expect(message.content[0]).toMatchObject({ type: 'text' });
    const completion = await gpt.chat.completions.create({ model: 'gpt-sim', max_tokens: 20, messages: question });
    expect(completion.choices[0]?.message.role).toBe('assistant');
    const streamed = await claude.messages.stream({ model: 'claude-sim', max_tokens: 25, messages: question }).finalMessage();
    expect(streamed.usage.output_tokens).toBe(25);

    expect(anthropicSim.stats().requests).toBe(2);
    expect(openaiSim.stats().requests).toBe(1);
    await proxy.close();
    expect(recordedRequests(dbPath).map((row) => [row.path, row.outcome])).toEqual([
      ['/v1/messages', 'ok'],
      ['/v1/chat/completions', 'ok'],
      ['/v1/messages', 'ok'],
    ]);
  });

  it('answers a request of a provider no upstream serves locally, 421 in its own shape, and forwards nothing', async () => {
    const anthropicSim = await harness.sim();
    const { proxy, dbPath } = await harness.proxy({ upstream: `anthropic=${anthropicSim.url}` });
    const answer = await postJson(`${proxy.url}/v1/chat/completions`, JSON.stringify({ model: 'gpt-4o', messages: question }), {
      authorization: 'Bearer sk-test',
    });
    expect(answer.status).toBe(421);
    expect(answer.headers.get('x-ratewarden-reason')).toBe('no-upstream');
    const body = (await answer.json()) as { error: { message: string } };
    expect(body.error.message).toContain('no upstream for openai requests');
    expect(body.error.message).toContain('add openai=URL to --upstream');
    expect(anthropicSim.stats().requests).toBe(0);
    expect(recordedRequests(dbPath)).toEqual([]);
  });

  it('keeps a single URL meaning every request goes there, whatever its provider', async () => {
    const sim = await harness.sim();
    const { proxy } = await harness.proxy({ upstream: sim.url });
    const gpt = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 0 });
    const claude = new Anthropic({ apiKey: 'sk-ant-test', baseURL: proxy.url, maxRetries: 0 });
    await gpt.chat.completions.create({ model: 'gpt-sim', max_tokens: 5, messages: question });
    await claude.messages.create({ model: 'claude-sim', max_tokens: 5, messages: question });
    expect(sim.stats().requests).toBe(2);
  });
});
