import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { ProviderAdapter } from './providers/adapter.js';
import type { UsageReading } from './providers/types.js';
import type { UpstreamTransport } from './upstreamAgent.js';

/** What happened to one forwarded request; each exchange reports exactly one outcome. */
export interface ExchangeRecorder {
  /**
   * The upstream answered 429: reported once its (small) body has arrived, before anything is
   * relayed; `quota` is the upstream's words when the body says the quota ran out (not a rate
   * limit). Settles (never rejects) once the 429 is recorded, or held when it cannot be: only
   * then is it relayed.
   */
  rateLimited(headers: IncomingHttpHeaders, quota?: string | null): Promise<void>;
  /** The answer's head arrived (any status but 429): its rate-limit headers are as old as `at` (now, when not given). */
  headArrived(status: number, headers: IncomingHttpHeaders, at?: number): void;
  answered(status: number, headers: IncomingHttpHeaders, usage: UsageReading): void;
  /** The client went away, or the upstream's answer broke off: what was seen so far. */
  cutShort(usage: UsageReading): void;
  /** `reachedUpstream`: bytes of the request may have reached the upstream, so it may have been served. */
  failed(kind: 'unreachable' | 'timeout', detail: string, reachedUpstream: boolean): void;
}

export interface ForwardSetup {
  upstream: URL;
  transport: UpstreamTransport;
  upstreamTimeoutMs: number;
}

export interface ForwardInput {
  request: IncomingMessage;
  response: ServerResponse;
  body: Buffer;
  /** Null when the client sent no body framing; then none is sent upstream either. */
  bodyLength: number | null;
  upstreamPath: string;
  /** The request's provider, chosen once by the server. */
  provider: ProviderAdapter;
  /**
   * UNSAFE (`--unsafe-retry-rate-limited-after`): a 429 is recorded but not relayed, so that the caller
   * can resend the request later, as the seed's proxy did.
   */
  hold429?: boolean;
}

/** `held-429`: the upstream answered 429 and, as asked, nothing was sent to the client. */
export type ForwardResult = 'relayed' | 'held-429';
