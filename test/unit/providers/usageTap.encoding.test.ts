import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { createUsageTap, MAX_JSON_BODY_BYTES } from '../../../src/proxy/providers/usageTap.js';
import { everyByte, seededOffsets, splitAt, sse } from './chunking.js';

const JSON_BODY = Buffer.from(
  JSON.stringify({ type: 'message', content: [{ type: 'text', text: 'ça va ✓' }], usage: { input_tokens: 70, output_tokens: 30 } }),
);
const SSE_BODY = sse([
  { event: 'message_start', data: { type: 'message_start', message: { usage: { input_tokens: 11, output_tokens: 1 } } } },
  { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'ünï 🎉' } } },
  { event: 'message_delta', data: { type: 'message_delta', usage: { output_tokens: 22 } } },
]);

async function tapAll(chunks: Buffer[], contentType: string, contentEncoding: string | undefined) {
  const tap = createUsageTap({ provider: 'anthropic', contentType, contentEncoding });
  for (const chunk of chunks) tap.write(chunk);
  return tap.end();
}

describe('usage tap, content encodings', () => {
  it.each([
    ['gzip', gzipSync],
    ['x-gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
  ] as const)('decodes a %s JSON body', async (encoding, compress) => {
    const compressed = compress(JSON_BODY);
    expect(await tapAll([compressed], 'application/json', encoding)).toEqual({ inputTokens: 70, outputTokens: 30 });
    expect(await tapAll(everyByte(compressed), 'application/json', encoding.toUpperCase())).toEqual({
      inputTokens: 70,
      outputTokens: 30,
    });
  });

  it.each([
    ['gzip', gzipSync],
    ['br', brotliCompressSync],
  ] as const)('decodes a %s event stream split at arbitrary points', async (encoding, compress) => {
    const compressed = compress(SSE_BODY);
    for (let seed = 1; seed <= 20; seed++) {
      const chunks = splitAt(compressed, seededOffsets(seed, compressed.length, 1 + (seed % 5)));
      expect(await tapAll(chunks, 'text/event-stream', encoding)).toEqual({ inputTokens: 11, outputTokens: 22 });
    }
  });

  it('undoes a list of encodings in reverse order', async () => {
    const twice = brotliCompressSync(gzipSync(JSON_BODY));
    expect(await tapAll([twice], 'application/json', 'gzip, br')).toEqual({ inputTokens: 70, outputTokens: 30 });
    expect(await tapAll([JSON_BODY], 'application/json', 'identity')).toEqual({ inputTokens: 70, outputTokens: 30 });
  });

  it('yields null, without throwing, for corrupt or truncated compressed bodies', async () => {
    expect(await tapAll([Buffer.from('definitely not gzip')], 'application/json', 'gzip')).toBeNull();
    expect(await tapAll([Buffer.from('definitely not brotli, no no')], 'application/json', 'br')).toBeNull();
    const truncated = gzipSync(JSON_BODY).subarray(0, 20);
    expect(await tapAll([truncated], 'application/json', 'gzip')).toBeNull();
  });

  it('yields null for a corrupt stream even after usage was seen, and ignores writes after the failure', async () => {
    const tap = createUsageTap({ provider: 'anthropic', contentType: 'text/event-stream', contentEncoding: 'gzip' });
    const compressed = gzipSync(SSE_BODY);
    tap.write(compressed);
    await vi.waitFor(() => expect(tap.seenSoFar()).toEqual({ inputTokens: 11, outputTokens: 22 }));
    tap.write(Buffer.from('trailing garbage that is not a gzip member'));
    await vi.waitFor(() => expect(tap.seenSoFar()).toBeNull());
    tap.write(Buffer.from('more'));
    expect(await tap.end()).toBeNull();
  });

  it('yields null for an encoding it cannot undo', async () => {
    expect(await tapAll([JSON_BODY], 'application/json', 'zstd')).toBeNull();
  });

  it('gives up on a JSON body above the cap instead of buffering it', async () => {
    const padding = 'x'.repeat(MAX_JSON_BODY_BYTES);
    const huge = Buffer.from(JSON.stringify({ padding, usage: { input_tokens: 1, output_tokens: 1 } }));
    expect(await tapAll([huge], 'application/json', undefined)).toBeNull();
    expect(await tapAll([gzipSync(huge)], 'application/json', 'gzip')).toBeNull();
  });

  it('returns the same result when end is called twice and ignores writes after end', async () => {
    const tap = createUsageTap({ provider: 'anthropic', contentType: 'application/json', contentEncoding: 'gzip' });
    tap.write(gzipSync(JSON_BODY));
    const first = tap.end();
    tap.write(Buffer.from('late'));
    expect(await first).toEqual({ inputTokens: 70, outputTokens: 30 });
    expect(await tap.end()).toEqual({ inputTokens: 70, outputTokens: 30 });
  });
});
