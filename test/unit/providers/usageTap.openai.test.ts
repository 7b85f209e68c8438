import { describe, expect, it } from 'vitest';
import { createUsageTap } from '../../../src/proxy/providers/usageTap.js';
import { everyByte, seededOffsets, splitAt, sse } from './chunking.js';

const SSE_TYPE = 'text/event-stream';

async function tapAll(chunks: Buffer[], contentType: string) {
  const tap = createUsageTap({ provider: 'openai', contentType, contentEncoding: undefined });
  for (const chunk of chunks) tap.write(chunk);
  return tap.end();
}

const chunk = (content: string | undefined, usage: object | null) => ({
  data: {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    choices: content === undefined ? [] : [{ index: 0, delta: { content }, finish_reason: null }],
    usage,
  },
});

describe('usage tap, OpenAI chat completions', () => {
  it('reads prompt and completion tokens from a JSON body', async () => {
    const body = Buffer.from(
      JSON.stringify({
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: 'hi' } }],
        usage: { prompt_tokens: 19, completion_tokens: 10, total_tokens: 29, prompt_tokens_details: { cached_tokens: 8 } },
      }),
    );
    expect(await tapAll([body], 'application/json; charset=utf-8')).toEqual({ inputTokens: 19, outputTokens: 10 });
  });

  it('reads an embeddings body, which has no completion tokens', async () => {
    const body = Buffer.from(JSON.stringify({ object: 'list', data: [], usage: { prompt_tokens: 8, total_tokens: 8 } }));
    expect(await tapAll([body], 'application/json')).toEqual({ inputTokens: 8, outputTokens: 0 });
  });

  it('reads the final usage chunk of a stream, whatever the chunking', async () => {
    const stream = sse([
      chunk('Hel', null),
      chunk('lo — ünïcode ✓', null),
      chunk(undefined, { prompt_tokens: 31, completion_tokens: 12, total_tokens: 43 }),
      { data: '[DONE]' },
    ]);
    expect(await tapAll([stream], SSE_TYPE)).toEqual({ inputTokens: 31, outputTokens: 12 });
    expect(await tapAll(everyByte(stream), SSE_TYPE)).toEqual({ inputTokens: 31, outputTokens: 12 });
    for (let seed = 1; seed <= 30; seed++) {
      const chunks = splitAt(stream, seededOffsets(seed, stream.length, 1 + (seed % 7)));
      expect(await tapAll(chunks, SSE_TYPE)).toEqual({ inputTokens: 31, outputTokens: 12 });
    }
  });

  it('reads a usage member whose name is spelled with escapes, as JSON.parse reads it', async () => {
    const stream = Buffer.from(
      'data: {"object":"chat.completion.chunk","choices":[]}\n\ndata: {"choices":[],"us\\u0061ge":{"prompt_tokens":5,"completion_tokens":2}}\n\ndata: [DONE]\n\n',
    );
    expect(await tapAll([stream], SSE_TYPE)).toEqual({ inputTokens: 5, outputTokens: 2 });
  });

  it('gives null for a stream without include_usage', async () => {
    const stream = sse([
      { data: { object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'x' } }] } },
      { data: '[DONE]' },
    ]);
    expect(await tapAll([stream], SSE_TYPE)).toBeNull();
  });

  it('ignores anything after [DONE]', async () => {
    const stream = sse([
      chunk(undefined, { prompt_tokens: 3, completion_tokens: 4 }),
      { data: '[DONE]' },
      chunk(undefined, { prompt_tokens: 999, completion_tokens: 999 }),
    ]);
    expect(await tapAll([stream], SSE_TYPE)).toEqual({ inputTokens: 3, outputTokens: 4 });
  });
});

describe('usage tap, OpenAI Responses API', () => {
  const usage = { input_tokens: 36, input_tokens_details: { cached_tokens: 0 }, output_tokens: 87, total_tokens: 123 };

  it('reads input and output tokens from a JSON body', async () => {
    const body = Buffer.from(JSON.stringify({ id: 'resp_1', object: 'response', status: 'completed', usage }));
    expect(await tapAll([body], 'application/json')).toEqual({ inputTokens: 36, outputTokens: 87 });
  });

  it('reads the usage of response.completed in a stream, ignoring the null usage of earlier events', async () => {
    const stream = sse([
      { event: 'response.created', data: { type: 'response.created', sequence_number: 0, response: { id: 'resp_1', usage: null } } },
      { event: 'response.output_text.delta', data: { type: 'response.output_text.delta', sequence_number: 1, delta: 'Hi' } },
      { event: 'response.completed', data: { type: 'response.completed', sequence_number: 2, response: { id: 'resp_1', usage } } },
    ]);
    const tap = createUsageTap({ provider: 'openai', contentType: SSE_TYPE, contentEncoding: undefined });
    for (const piece of everyByte(stream)) tap.write(piece);
    expect(tap.seenSoFar()).toEqual({ inputTokens: 36, outputTokens: 87 });
    expect(await tap.end()).toEqual({ inputTokens: 36, outputTokens: 87 });
  });

  it('reads the usage of a response cut short by max_output_tokens', async () => {
    const stream = sse([
      { event: 'response.incomplete', data: { type: 'response.incomplete', response: { status: 'incomplete', usage } } },
    ]);
    expect(await tapAll([stream], SSE_TYPE)).toEqual({ inputTokens: 36, outputTokens: 87 });
  });
});

describe('usage tap, generic provider', () => {
  it('reads nothing: generic APIs are counted by requests only', async () => {
    const tap = createUsageTap({ provider: 'generic', contentType: 'application/json', contentEncoding: undefined });
    tap.write(Buffer.from(JSON.stringify({ usage: { prompt_tokens: 1, completion_tokens: 1 } })));
    expect(tap.seenSoFar()).toBeNull();
    expect(await tap.end()).toBeNull();
  });
});

describe('usage tap, OpenAI usage that cannot be read (issue 9 item 4)', () => {
  const badCounts: unknown[] = [-1, 0.5, 1e12, Number.MAX_SAFE_INTEGER, '40', 'NaN', [3], { n: 1 }];

  it('a JSON body with a negative, fractional, huge or non-numeric count is unreadable, not 0/0', async () => {
    for (const bad of badCounts) {
      expect(await tapAll([Buffer.from(JSON.stringify({ usage: { prompt_tokens: bad, completion_tokens: 4 } }))], 'application/json')).toBe(
        'unreadable',
      );
      expect(await tapAll([Buffer.from(JSON.stringify({ usage: { prompt_tokens: 4, completion_tokens: bad } }))], 'application/json')).toBe(
        'unreadable',
      );
      expect(await tapAll([Buffer.from(JSON.stringify({ usage: { input_tokens: 4, output_tokens: bad } }))], 'application/json')).toBe(
        'unreadable',
      );
    }
  });

  it('a stream whose usage chunk carries a bad count is unreadable', async () => {
    for (const bad of badCounts) {
      const stream = sse([chunk('Hi', null), chunk(undefined, { prompt_tokens: 31, completion_tokens: bad }), { data: '[DONE]' }]);
      expect(await tapAll([stream], SSE_TYPE)).toBe('unreadable');
    }
  });
});
