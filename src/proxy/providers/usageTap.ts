import { createAnthropicUsageReader } from './anthropicUsage.js';
import { createBodyDecoder } from './bodyDecoder.js';
import { parseJson } from './jsonFields.js';
import { createOpenAiUsageReader } from './openaiUsage.js';
import { createSseParser } from './sseParser.js';
import type { ProviderName, TokenUsage } from './types.js';
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
  /** Call once the response has ended; resolves to the usage the body reported, if any. */
  end(): Promise<TokenUsage | null>;
  /** Usage seen up to now: what an interrupted stream has already cost. */
  seenSoFar(): TokenUsage | null;
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
  push(chunk: Buffer): void;
  /** Returns false when the body could not be read. */
  finish(): boolean;
}

function eventStreamSink(reader: UsageReader): BodySink {
  const parser = createSseParser((event) => reader.readEvent(event));
  return {
    push: (chunk) => parser.push(chunk),
    finish() {
      parser.finish();
      return true;
    },
  };
}

function jsonSink(reader: UsageReader, onTooLarge: () => void): BodySink {
  let chunks: Buffer[] = [];
  let bytes = 0;
  let tooLarge = false;
  return {
    push(chunk) {
      if (tooLarge) return;
      bytes += chunk.length;
      if (bytes > MAX_JSON_BODY_BYTES) {
        tooLarge = true;
        chunks = [];
        onTooLarge();
        return;
      }
      chunks.push(Buffer.from(chunk));
    },
    finish() {
      if (tooLarge) return false;
      reader.readBody(parseJson(Buffer.concat(chunks).toString('utf8')));
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
  let failed = false;
  let abandonDecoding = (): void => undefined;
  const giveUp = (): void => {
    failed = true;
    abandonDecoding();
  };
  const sink = isEventStream(contentType) ? eventStreamSink(reader) : jsonSink(reader, giveUp);
  const decoder = createBodyDecoder(contentEncoding, (chunk) => sink.push(chunk));
  if (decoder === null) return NO_USAGE;
  abandonDecoding = () => decoder.abandon();

  const finishReading = async (): Promise<TokenUsage | null> => {
    const decoded = await decoder.finish();
    if (!decoded || failed || !sink.finish()) {
      failed = true;
      return null;
    }
    return reader.usage();
  };
  let ended: Promise<TokenUsage | null> | undefined;

  return {
    write(chunk) {
      if (ended === undefined && !failed) decoder.write(chunk);
    },
    end() {
      ended ??= finishReading();
      return ended;
    },
    seenSoFar() {
      return failed ? null : reader.usage();
    },
  };
}
