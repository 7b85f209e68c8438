import { describe, expect, it } from 'vitest';
import { providerAdapter, providerChooser } from '../../../src/proxy/providers/adapter.js';

const body = Buffer.from(JSON.stringify({ model: 'm', input: 'twelve bytes' }));
const now = Date.parse('2026-01-01T00:00:00Z');

describe('providerAdapter', () => {
  it('reserves nothing for counting tokens, and no output for an embedding', () => {
    expect(providerAdapter('anthropic', 'no-tokens').shape('/v1/messages/count_tokens', body)).toMatchObject({
      inputTokens: 0,
      generates: false,
    });
    expect(providerAdapter('openai', 'embedding').shape('/v1/embeddings', body)).toMatchObject({
      inputTokens: Math.ceil(body.length / 4),
      generates: false,
    });
    expect(providerAdapter('openai', 'generation').shape('/v1/chat/completions', body)).toMatchObject({
      inputTokens: Math.ceil(body.length / 4),
      generates: true,
      model: 'm',
    });
  });

  it('reads whichever rate-limit header family the answer carries, its own first', () => {
    const openAiHeaders = { 'x-ratelimit-limit-tokens': '30000', 'x-ratelimit-remaining-requests': '9' };
    expect(providerAdapter('generic').readLimits(openAiHeaders, now)).toEqual({ tokenLimit: 30000, requestRemaining: 9 });
    expect(providerAdapter('anthropic').readLimits(openAiHeaders, now)).toEqual({ tokenLimit: 30000, requestRemaining: 9 });
    const both = { ...openAiHeaders, 'anthropic-ratelimit-tokens-limit': '80000', 'retry-after': '3' };
    expect(providerAdapter('anthropic').readLimits(both, now)).toEqual({ tokenLimit: 80000, requestRemaining: 9, retryAfterMs: 3000 });
    expect(providerAdapter('openai').readLimits(both, now)).toEqual({ tokenLimit: 30000, requestRemaining: 9, retryAfterMs: 3000 });
  });

  it('reads what is left with the rounding and refill of the header family that said it, whatever the request’s shape', () => {
    // Anthropic's OpenAI-compatible endpoint: an OpenAI-shaped request, answered in Anthropic's header family.
    const anthropicHeaders = {
      'anthropic-ratelimit-tokens-limit': '90000',
      'anthropic-ratelimit-tokens-remaining': '14000',
      'anthropic-ratelimit-tokens-reset': '2026-01-01T00:00:30Z',
      'anthropic-ratelimit-requests-limit': '50',
      'anthropic-ratelimit-requests-remaining': '49',
      'anthropic-ratelimit-requests-reset': '2026-01-01T00:00:01Z',
    };
    const fromAnthropic = [
      { dimension: 'tokens', limit: 90_000, remaining: 14_000, resetAt: now + 30_000, roundingSlack: 500, refill: 'bucket' },
      { dimension: 'requests', limit: 50, remaining: 49, resetAt: now + 1_000, roundingSlack: 0, refill: 'bucket' },
    ];
    expect(providerAdapter('openai').readReports(anthropicHeaders, now)).toEqual(fromAnthropic);
    expect(providerAdapter('generic').readReports(anthropicHeaders, now)).toEqual(fromAnthropic);
    expect(providerAdapter('anthropic').readReports(anthropicHeaders, now)).toEqual(fromAnthropic);
    // OpenAI's counts are exact, even behind an Anthropic-shaped request.
    const openAiHeaders = {
      'x-ratelimit-limit-tokens': '30000',
      'x-ratelimit-remaining-tokens': '12000',
      'x-ratelimit-reset-tokens': '6s',
    };
    expect(providerAdapter('anthropic').readReports(openAiHeaders, now)).toEqual([
      { dimension: 'tokens', limit: 30_000, remaining: 12_000, resetAt: now + 6_000, roundingSlack: 0, refill: 'window' },
    ]);
    // Where both families speak of one limit, the request's own family wins, with its own rounding.
    expect(providerAdapter('openai').readReports({ ...anthropicHeaders, ...openAiHeaders }, now)).toEqual([
      { dimension: 'tokens', limit: 30_000, remaining: 12_000, resetAt: now + 6_000, roundingSlack: 0, refill: 'window' },
      { dimension: 'requests', limit: 50, remaining: 49, resetAt: now + 1_000, roundingSlack: 0, refill: 'bucket' },
    ]);
  });

  it('answers in each provider’s error shape', () => {
    expect(JSON.parse(providerAdapter('anthropic').errorBody('rate_limit', 'slow down'))).toEqual({
      type: 'error',
      error: { type: 'rate_limit_error', message: 'slow down' },
    });
    expect(JSON.parse(providerAdapter('openai').errorBody('rate_limit', 'slow down'))).toMatchObject({
      error: { type: 'rate_limit_exceeded', code: 'rate_limit_exceeded' },
    });
    expect(JSON.parse(providerAdapter('generic').errorBody('rate_limit', 'slow down'))).toEqual({
      error: { type: 'rate_limit', message: 'slow down' },
    });
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
