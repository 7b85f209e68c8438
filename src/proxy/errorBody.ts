import type { IncomingMessage } from 'node:http';
import { quotaBodyLimit, quotaExhaustion } from './providers/quotaError.js';

export interface ErrorBodyRead {
  /** What was read, to be relayed first: the rest (if any) is piped after it. */
  chunks: Buffer[];
  /** The upstream's words when the body says the quota ran out; null for a rate limit. */
  quota: string | null;
}

/**
 * Reads an error answer's body (a 429's: a few hundred bytes) up to quotaBodyLimit, to tell a
 * quota 429 from a rate limit before it is recorded. A body that is larger, compressed, or does
 * not end is taken for a rate limit as soon as that is clear; what was read is relayed first and
 * the rest streams after it.
 */
export function readErrorBody(answer: IncomingMessage): Promise<ErrorBodyRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let done = false;
    const finish = (quota: string | null): void => {
      if (done) return;
      done = true;
      answer.off('data', onData);
      answer.pause();
      resolve({ chunks, quota });
    };
    const encoded = (answer.headers['content-encoding'] ?? 'identity') !== 'identity';
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      length += chunk.length;
      if (length > quotaBodyLimit) finish(null);
    };
    if (encoded) {
      resolve({ chunks, quota: null });
      return;
    }
    answer.on('data', onData);
    answer.once('end', () => finish(quotaExhaustion(Buffer.concat(chunks).toString('utf8'))));
    answer.once('close', () => finish(null));
    answer.once('error', () => finish(null));
  });
}
