import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { ProviderName } from '../proxy/providers/types.js';
import { limitHeaders } from './limitHeaders.js';
import { negotiateCompression, openReplyBody, type SimCompression } from './replyBody.js';
import type { LimitShape } from './allowance.js';
import type { Need, SimLedger } from './simLedger.js';

export type RetryAfterMode = 'until-room' | 'none';

export interface SimSettings {
  shape: LimitShape;
  tokenLimit: number;
  requestLimit: number | undefined;
  windowMs: number;
  outputTokens: number;
  streamChunks: number;
  streamDelayMs: number;
  compress: SimCompression | undefined;
  reportLimits: boolean;
  retryAfterMode: RetryAfterMode;
}

/** Everything a route needs to answer one request. */
export interface ReplyContext {
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
  body: Buffer;
  arrivedAt: number;
  /** What the request needs from the limits: its input, plus its output reservation in a token bucket. */
  need: Need;
  settings: SimSettings;
  ledger: SimLedger;
  now: () => number;
  /** Aborted when the client goes away or the server closes, so no route outlives its socket. */
  signal: AbortSignal;
  nextId: () => number;
}

/** The simulated upstream's own token count for a request body, the same rule the estimate uses. */
export function inputTokensOf(body: Buffer): number {
  return Math.ceil(body.length / 4);
}

export function rateLimitHeadersFor(context: ReplyContext, provider: ProviderName): OutgoingHttpHeaders {
  return context.settings.reportLimits ? limitHeaders(provider, context.ledger.snapshot(context.now())) : {};
}

export function sendJson(context: ReplyContext, status: number, headers: OutgoingHttpHeaders, payload: unknown): void {
  const compression = negotiateCompression(context.request, context.settings.compress);
  const body = openReplyBody(context.response, status, { 'content-type': 'application/json', ...headers }, compression);
  body.write(JSON.stringify(payload));
  body.end();
}
