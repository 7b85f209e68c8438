import { describe, expect, it } from 'vitest';
import { outputReservation } from '../../../src/core/outputEstimate.js';
import { shapeRequest } from '../../../src/proxy/providers/estimate.js';
import type { ProviderName } from '../../../src/proxy/providers/types.js';

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

/** The reservation before anything is learned about the model, as the proxy computes it. */
function estimateRequest(provider: ProviderName, body: Buffer, defaultMaxTokens: number): { inputTokens: number; outputTokens: number } {
  const shape = shapeRequest(provider, '/v1/messages', body);
  return { inputTokens: shape.inputTokens, outputTokens: outputReservation(shape, null, { defaultMaxTokens, outputReserveMax: null }) };
}

describe('the reservation before anything is learned', () => {
  it('takes output from max_tokens and input as a quarter of the body bytes, rounded up', () => {
    const body = json({ model: 'm', max_tokens: 300, messages: [{ role: 'user', content: 'hello' }] });
    expect(estimateRequest('anthropic', body, 4096)).toEqual({ inputTokens: Math.ceil(body.length / 4), outputTokens: 300 });
  });

  it('reads max_completion_tokens and max_output_tokens too', () => {
    expect(estimateRequest('openai', json({ max_completion_tokens: 77 }), 4096).outputTokens).toBe(77);
    expect(estimateRequest('openai', json({ max_output_tokens: 55 }), 4096).outputTokens).toBe(55);
  });

  it('takes the first field that holds a positive integer', () => {
    expect(estimateRequest('openai', json({ max_tokens: 0, max_completion_tokens: 12 }), 4096).outputTokens).toBe(12);
    expect(estimateRequest('openai', json({ max_tokens: '10', max_output_tokens: 9 }), 4096).outputTokens).toBe(9);
    expect(estimateRequest('openai', json({ max_tokens: 2.5 }), 4096).outputTokens).toBe(4096);
  });

  it('falls back to the default output for model APIs and to none for generic ones', () => {
    expect(estimateRequest('anthropic', json({ model: 'm' }), 1000).outputTokens).toBe(1000);
    expect(estimateRequest('openai', Buffer.from('not json'), 1000).outputTokens).toBe(1000);
    expect(estimateRequest('generic', Buffer.from('not json'), 1000).outputTokens).toBe(0);
    expect(estimateRequest('generic', json({ query: 'x' }), 1000).outputTokens).toBe(0);
    expect(estimateRequest('generic', json({ max_tokens: 5 }), 1000).outputTokens).toBe(5);
  });

  it('reserves nothing for an empty body (it asks for no generation) and counts bytes, not characters', () => {
    expect(estimateRequest('anthropic', Buffer.alloc(0), 1000)).toEqual({ inputTokens: 0, outputTokens: 0 });
    expect(estimateRequest('generic', Buffer.from('ééé'), 0).inputTokens).toBe(2);
    expect(estimateRequest('generic', Buffer.from('[1,2]'), 0)).toEqual({ inputTokens: 2, outputTokens: 0 });
  });
});

describe('shapeRequest', () => {
  const body = Buffer.from(JSON.stringify({ model: 'claude-sonnet', max_tokens: 128_000, messages: [{ role: 'user', content: 'hi' }] }));

  it('reads the model and the declared max_tokens of a generating request', () => {
    expect(shapeRequest('anthropic', '/v1/messages', body)).toEqual({
      inputTokens: Math.ceil(body.length / 4),
      model: 'claude-sonnet',
      generates: true,
      declaredMaxTokens: 128_000,
    });
  });

  it('reserves nothing for token counting, and no output for a model listing', () => {
    expect(shapeRequest('anthropic', '/v1/messages/count_tokens', body)).toMatchObject({ inputTokens: 0, generates: false });
    expect(shapeRequest('openai', '/v1/models', Buffer.alloc(0))).toMatchObject({ inputTokens: 0, generates: false });
    expect(shapeRequest('openai', '/v1/models/gpt-x', body)).toMatchObject({ generates: false });
  });
});
