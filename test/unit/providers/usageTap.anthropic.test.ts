import { describe, expect, it } from 'vitest';
import { createUsageTap } from '../../../src/proxy/providers/usageTap.js';
import { everyByte, seededOffsets, splitAt, sse } from './chunking.js';

const SSE_TYPE = 'text/event-stream; charset=utf-8';

async function tapAll(chunks: Buffer[], contentType: string, contentEncoding?: string) {
  const tap = createUsageTap({ provider: 'anthropic', contentType, contentEncoding });
  for (const chunk of chunks) tap.write(chunk);
  return tap.end();
}

const messageStart = (usage: object) => ({
  event: 'message_start',
  data: {
    type: 'message_start',
    message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'm', stop_reason: null, usage },
  },
});
const delta = (text: string) => ({
  event: 'content_block_delta',
  data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } },
});
const messageDelta = (usage: object) => ({
  event: 'message_delta',
  data: { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage },
});

const FULL_STREAM = sse([
  messageStart({ input_tokens: 25, cache_creation_input_tokens: 10, cache_read_input_tokens: 5, output_tokens: 1 }),
  { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } },
  { event: 'ping', data: { type: 'ping' } },
  delta('Grüße, '),
  delta('世界 🌍'),
  { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
  messageDelta({ output_tokens: 7 }),
  messageDelta({ output_tokens: 15 }),
  { event: 'message_stop', data: { type: 'message_stop' } },
]);

describe('usage tap, Anthropic JSON', () => {
  it('counts input, cache creation and cache reads as input, and gives the cache parts apart', async () => {
    const body = Buffer.from(
      JSON.stringify({
        id: 'msg_1',
        type: 'message',
        content: [{ type: 'text', text: 'hi' }],
        usage: { input_tokens: 100, cache_creation_input_tokens: 20, cache_read_input_tokens: 300, output_tokens: 42 },
      }),
    );
    expect(await tapAll(everyByte(body), 'application/json')).toEqual({
      inputTokens: 420,
      outputTokens: 42,
      cacheCreationInputTokens: 20,
      cacheReadInputTokens: 300,
    });
  });

  it('treats null cache fields as zero', async () => {
    const body = Buffer.from(
      JSON.stringify({ usage: { input_tokens: 9, cache_creation_input_tokens: null, cache_read_input_tokens: null, output_tokens: 3 } }),
    );
    expect(await tapAll([body], 'application/json')).toEqual({ inputTokens: 9, outputTokens: 3 });
  });

  it('gives null for an error body, garbage, truncated JSON or an empty body', async () => {
    const error = Buffer.from('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}');
    expect(await tapAll([error], 'application/json')).toBeNull();
    expect(await tapAll([Buffer.from('<html>bad gateway</html>')], 'text/html')).toBeNull();
    expect(await tapAll([Buffer.from('{"usage":{"input_tokens":3,')], 'application/json')).toBeNull();
    expect(await tapAll([], 'application/json')).toBeNull();
  });

  it('calls usage unreadable when a count is a string, negative, fractional or huge (never 0/0)', async () => {
    for (const bad of ['12', -4, 2.5, 1e12, 1e308, true, {}]) {
      const body = Buffer.from(JSON.stringify({ usage: { input_tokens: 10, output_tokens: bad } }));
      expect(await tapAll([body], 'application/json')).toBe('unreadable');
    }
    expect(await tapAll([Buffer.from(JSON.stringify({ usage: 'lots' }))], 'application/json')).toBe('unreadable');
  });

  it('calls a stream unreadable when message_start or a message_delta carries a bad count', async () => {
    for (const bad of [-1, 0.5, 1e12, '15']) {
      const badDelta = sse([
        messageStart({ input_tokens: 25, output_tokens: 1 }),
        delta('hi'),
        messageDelta({ output_tokens: bad }),
        { event: 'message_stop', data: { type: 'message_stop' } },
      ]);
      expect(await tapAll([badDelta], SSE_TYPE)).toBe('unreadable');
      const badStart = sse([messageStart({ input_tokens: bad, output_tokens: 1 }), messageDelta({ output_tokens: 15 })]);
      expect(await tapAll([badStart], SSE_TYPE)).toBe('unreadable');
    }
  });

  it('reads a count of null as absent, not as unreadable', async () => {
    const body = Buffer.from(JSON.stringify({ usage: { input_tokens: 10, cache_read_input_tokens: null, output_tokens: 3 } }));
    expect(await tapAll([body], 'application/json')).toEqual({ inputTokens: 10, outputTokens: 3 });
  });
});

describe('usage tap, Anthropic SSE', () => {
  it('takes input from message_start and output from the last cumulative message_delta', async () => {
    expect(await tapAll([FULL_STREAM], SSE_TYPE)).toEqual({
      inputTokens: 40,
      outputTokens: 15,
      cacheCreationInputTokens: 10,
      cacheReadInputTokens: 5,
    });
  });

  it('gives the same usage for any chunking, including splits inside lines and characters', async () => {
    expect(await tapAll(everyByte(FULL_STREAM), SSE_TYPE)).toEqual({
      inputTokens: 40,
      outputTokens: 15,
      cacheCreationInputTokens: 10,
      cacheReadInputTokens: 5,
    });
    for (let seed = 1; seed <= 40; seed++) {
      const chunks = splitAt(FULL_STREAM, seededOffsets(seed, FULL_STREAM.length, 1 + (seed % 12)));
      expect(await tapAll(chunks, SSE_TYPE)).toEqual({
        inputTokens: 40,
        outputTokens: 15,
        cacheCreationInputTokens: 10,
        cacheReadInputTokens: 5,
      });
    }
  });

  it('reports what an interrupted stream has cost so far', () => {
    const tap = createUsageTap({ provider: 'anthropic', contentType: SSE_TYPE, contentEncoding: undefined });
    expect(tap.seenSoFar()).toBeNull();
    tap.write(sse([messageStart({ input_tokens: 12, output_tokens: 1 }), delta('partial')]));
    expect(tap.seenSoFar()).toEqual({ inputTokens: 12, outputTokens: 1 });
    tap.write(sse([messageDelta({ output_tokens: 30 })]));
    expect(tap.seenSoFar()).toEqual({ inputTokens: 12, outputTokens: 30 });
  });

  it('lets message_delta replace input counts it carries, and keeps those it leaves null', async () => {
    const stream = sse([
      messageStart({ input_tokens: 10, cache_read_input_tokens: 4, output_tokens: 1 }),
      messageDelta({ input_tokens: 11, cache_creation_input_tokens: null, cache_read_input_tokens: null, output_tokens: 9 }),
    ]);
    expect(await tapAll([stream], SSE_TYPE)).toEqual({ inputTokens: 15, outputTokens: 9, cacheReadInputTokens: 4 });
  });

  it('survives malformed events and keeps reading the good ones', async () => {
    const stream = Buffer.concat([
      Buffer.from('event: message_start\ndata: {not json\n\n'),
      sse([
        messageStart({ input_tokens: 5, output_tokens: 1 }),
        { event: 'message_delta', data: 'null' },
        messageDelta({ output_tokens: 8 }),
      ]),
    ]);
    expect(await tapAll([stream], SSE_TYPE)).toEqual({ inputTokens: 5, outputTokens: 8 });
  });

  it('gives null for a stream that carried no usage at all', async () => {
    expect(await tapAll([sse([delta('no usage here')])], SSE_TYPE)).toBeNull();
    expect(await tapAll([Buffer.from('random bytes \u0000\u0001 without structure')], SSE_TYPE)).toBeNull();
  });

  it('reads a usage event whose type is spelled with escapes, as JSON.parse reads it', async () => {
    const stream = Buffer.from(
      'event: message_start\ndata: {"type":"mess\\u0061ge_start","message":{"usage":{"input_tokens":6,"output_tokens":1}}}\n\n' +
        'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"a"}}\n\n' +
        'event: message_delta\ndata: {"type":"message\\u005fdelta","usage":{"output_tokens":4}}\n\n',
    );
    expect(await tapAll([stream], SSE_TYPE)).toEqual({ inputTokens: 6, outputTokens: 4 });
  });
});
