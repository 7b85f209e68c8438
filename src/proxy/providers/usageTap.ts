import { createAnthropicUsageReader } from './anthropicUsage.js';
import { createBodyDecoder } from './bodyDecoder.js';
import { createOpenAiUsageReader } from './openaiUsage.js';
import { createSseParser } from './sseParser.js';
import { readTopLevelFields, wantedFields } from './topLevelFields.js';
import type { ProviderName, UsageReading } from './types.js';
import type { UsageReader } from './usageReader.js';

export interface UsageTapOptions {
  provider: ProviderName;
  contentType: string | undefined;
  contentEncoding: string | undefined;
}

/**
 * Reads token usage from a copy of the response bytes while the proxy forwards the originals.
 * It never throws into the proxy: a body it cannot decode or parse simply has no usage (null).
 */
export interface UsageTap {
  write(chunk: Buffer): void;
  /**
   * Call once the response has ended; resolves to the usage the body reported, if any.
   * A truncated compressed body fails to decode, so for an interrupted stream ask `seenSoFar`.
   */
  end(): Promise<UsageReading>;
  /**
   * Usage seen up to now: what an interrupted stream has already cost. Behind a decompressor it
   * trails the written bytes by whatever the decompressor has not yet emitted.
   */
  seenSoFar(): UsageReading;
}

/** A JSON body larger than this is not worth holding in memory just to read its usage. */
export const MAX_JSON_BODY_BYTES = 8 * 1024 * 1024;

const NO_USAGE: UsageTap = {
  write: () => undefined,
  end: async () => null,
  seenSoFar: () => null,
};

function readerFor(provider: ProviderName): UsageReader | null {
  if (provider === 'anthropic') return createAnthropicUsageReader();
  if (provider === 'openai') return createOpenAiUsageReader();
  return null;
}

interface BodySink {
  /** Returns false once the sink has given up on the body. */
  push(chunk: Buffer): boolean;
  /** Returns false when the body could not be read. */
  finish(): boolean;
}

function eventStreamSink(reader: UsageReader): BodySink {
  const parser = createSseParser((event) => reader.readEvent(event));
  return {
    push(chunk) {
      parser.push(chunk);
      return true;
    },
    finish() {
      parser.finish();
      return true;
    },
  };
}

/** The one member of a JSON answer its usage readers look at; the rest of the answer is never built. */
const ANSWER_FIELDS = wantedFields(['usage']);

function jsonSink(reader: UsageReader): BodySink {
  let chunks: Buffer[] = [];
  let bytes = 0;
  return {
    push(chunk) {
      bytes += chunk.length;
      if (bytes > MAX_JSON_BODY_BYTES) {
        chunks = [];
        return false;
      }
      chunks.push(chunk);
      return true;
    },
    finish() {
      if (bytes > MAX_JSON_BODY_BYTES) return false;
      reader.readBody(readTopLevelFields(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, bytes), ANSWER_FIELDS));
      return true;
    },
  };
}

function isEventStream(contentType: string | undefined): boolean {
  return (contentType ?? '').toLowerCase().split(';')[0]?.trim() === 'text/event-stream';
}

export function createUsageTap({ provider, contentType, contentEncoding }: UsageTapOptions): UsageTap {
  const reader = readerFor(provider);
  if (reader === null) return NO_USAGE;
  const sink = isEventStream(contentType) ? eventStreamSink(reader) : jsonSink(reader);
  let gaveUp = false;
  const decoder = createBodyDecoder(contentEncoding, (chunk) => {
    if (sink.push(chunk)) return;
    gaveUp = true;
    decoder?.abandon();
  });
  if (decoder === null) return NO_USAGE;
  const unreadable = (): boolean => gaveUp || decoder.hasFailed();

  const finishReading = async (): Promise<UsageReading> => {
    const decoded = await decoder.finish();
    return decoded && !unreadable() && sink.finish() ? reader.usage() : null;
  };
  let ended: Promise<UsageReading> | undefined;

  return {
    write(chunk) {
      if (ended === undefined && !unreadable()) decoder.write(chunk);
    },
    end() {
      ended ??= finishReading();
      return ended;
    },
    seenSoFar() {
      return unreadable() ? null : reader.usage();
    },
  };
}
