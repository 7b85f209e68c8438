import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProviderAdapter } from './providers/adapter.js';
import type { UsageReading } from './providers/types.js';
import type { UsageTap } from './providers/usageTap.js';
import { clientResponseHeaders } from './headers.js';

/** How a relayed answer ended, as the forwarder hears it. */
export interface RelayEnds {
  /** The whole answer reached the client, and no usage is read from it (a 429). */
  relayed(): void;
  /** The whole answer reached the client; `usage` is what its body reported. */
  read(usage: UsageReading): void;
  /** The upstream's answer broke off (or was cut): what its body reported so far. */
  brokenOff(seenSoFar: UsageReading): void;
}

/**
 * Relays an answer to the client byte for byte — its head, what was already read of its body,
 * then the rest as it streams — while a copy feeds the provider's usage tap (none for a 429).
 */
export function relayAnswer(
  answer: IncomingMessage,
  response: ServerResponse,
  provider: ProviderAdapter,
  alreadyRead: readonly Buffer[],
  ends: RelayEnds,
): void {
  const status = answer.statusCode ?? 502;
  response.writeHead(status, answer.statusMessage, clientResponseHeaders(answer.rawHeaders));
  for (const chunk of alreadyRead) response.write(chunk);
  if (answer.readableEnded) {
    response.end();
    return ends.relayed();
  }
  const tap: UsageTap | null =
    status === 429
      ? null
      : provider.usageTap({ contentType: answer.headers['content-type'], contentEncoding: answer.headers['content-encoding'] });
  if (tap !== null) answer.on('data', (chunk: Buffer) => tap.write(chunk));
  answer.pipe(response);
  answer.once('end', () => {
    if (tap === null) return ends.relayed();
    void tap.end().then((usage) => ends.read(usage));
  });
  answer.once('close', () => {
    if (answer.complete) return;
    // The client must see a broken answer, not one that looks complete.
    response.destroy();
    ends.brokenOff(tap?.seenSoFar() ?? null);
  });
}
