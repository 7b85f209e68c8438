import { describe, expect, it } from 'vitest';
import { providerAdapter, providerChooser } from '../../../src/proxy/providers/adapter.js';

const body = Buffer.from(JSON.stringify({ model: 'm', input: 'twelve bytes' }));
const now = Date.parse('2026-01-01T00:00:00Z');

describe('providerAdapter', () => {
  it('reserves nothing for counting tokens, and no output for an embedding', () => {
    expect(providerAdapter('anthropic', 'no-tokens').shape('/v1/messages/count_tokens', body)).toMatchObject({ inputTokens: 0, generates: false });
    expect(providerAdapter('openai', 'embedding').shape('/v1/embeddings', body)).toMatchObject({ inputTokens: Math.ceil(body.length / 4), generates: false });
    expect(providerAdapter('openai', 'generation').shape('/v1/chat/completions', body)).toMatchObject({ inputTokens: Math.ceil(body.length / 4), generates: true, model: 'm' });
  });

  it('reads whichever rate-limit header family the answer carries, its own first', () => {
    const openAiHeaders = { 'x-ratelimit-limit-tokens': '30000', 'x-ratelimit-remaining-requests': '9' };
    expect(providerAdapter('generic').readLimits(openAiHeaders, now)).toEqual({ tokenLimit: 30000, requestRemaining: 9 });
    expect(providerAdapter('anthropic').readLimits(openAiHeaders, now)).toEqual({ tokenLimit: 30000, requestRemaining: 9 });
    const both = { ...openAiHeaders, 'anthropic-ratelimit-tokens-limit': '80000', 'retry-after': '3' };
    expect(providerAdapter('anthropic').readLimits(both, now)).toEqual({ tokenLimit: 80000, requestRemaining: 9, retryAfterMs: 3000 });
    expect(providerAdapter('openai').readLimits(both, now)).toEqual({ tokenLimit: 30000, requestRemaining: 9, retryAfterMs: 3000 });
  });

  it('answers in each provider’s error shape', () => {
    expect(JSON.parse(providerAdapter('anthropic').errorBody('rate_limit', 'slow down'))).toEqual({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } });
    expect(JSON.parse(providerAdapter('openai').errorBody('rate_limit', 'slow down'))).toMatchObject({ error: { type: 'rate_limit_exceeded', code: 'rate_limit_exceeded' } });
    expect(JSON.parse(providerAdapter('generic').errorBody('rate_limit', 'slow down'))).toEqual({ error: { type: 'rate_limit', message: 'slow down' } });
  });

  it('reads usage in the provider’s own shape', async () => {
    const tap = providerAdapter('openai').usageTap({ contentType: 'application/json', contentEncoding: undefined });
    tap.write(Buffer.from(JSON.stringify({ usage: { prompt_tokens: 28, completion_tokens: 5 } })));
    expect(await tap.end()).toEqual({ inputTokens: 28, outputTokens: 5 });
  });
});

describe('providerChooser', () => {
  it('hands out the same adapter object for the same choice: nothing is built per request', () => {
    const choose = providerChooser(new URL('http://127.0.0.1:9'), 'auto');
    const first = choose({ path: '/v1/messages', headers: {} });
    expect(first).toBe(choose({ path: '/gateway/v1/messages', headers: {} }));
    expect(first).toMatchObject({ name: 'anthropic', endpoint: 'generation' });
  });
});
