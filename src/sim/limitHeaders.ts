import type { OutgoingHttpHeaders } from 'node:http';
import type { ProviderName } from '../proxy/providers/types.js';

export interface LimitSnapshot {
  now: number;
  tokenLimit: number;
  tokensRemaining: number;
  tokensResetMs: number;
  requestLimit: number | undefined;
  requestsRemaining: number;
  requestsResetMs: number;
  /** Anthropic's token bucket reports its remaining tokens rounded to the nearest thousand. */
  roundTokensTo: number;
}

/** Go's `time.Duration.String()` for whole milliseconds, the format of OpenAI's reset headers. */
export function formatGoDuration(ms: number): string {
  const whole = Math.max(0, Math.round(ms));
  if (whole === 0) return '0s';
  if (whole < 1000) return `${whole}ms`;
  const hours = Math.floor(whole / 3_600_000);
  const minutes = Math.floor((whole % 3_600_000) / 60_000);
  const seconds = String((whole % 60_000) / 1000);
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

function rfc3339(epochMs: number): string {
  // Anthropic reports whole seconds; rounding up keeps "reset" from ever arriving early.
  return new Date(Math.ceil(epochMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function rounded(value: number, to: number): number {
  return Math.max(0, Math.round(value / to) * to);
}

function anthropicHeaders(snapshot: LimitSnapshot): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    'anthropic-ratelimit-tokens-limit': String(snapshot.tokenLimit),
    'anthropic-ratelimit-tokens-remaining': String(rounded(snapshot.tokensRemaining, snapshot.roundTokensTo)),
    'anthropic-ratelimit-tokens-reset': rfc3339(snapshot.now + snapshot.tokensResetMs),
  };
  if (snapshot.requestLimit !== undefined) {
    headers['anthropic-ratelimit-requests-limit'] = String(snapshot.requestLimit);
    headers['anthropic-ratelimit-requests-remaining'] = String(snapshot.requestsRemaining);
    headers['anthropic-ratelimit-requests-reset'] = rfc3339(snapshot.now + snapshot.requestsResetMs);
  }
  return headers;
}

function openAiHeaders(snapshot: LimitSnapshot): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    'x-ratelimit-limit-tokens': String(snapshot.tokenLimit),
    'x-ratelimit-remaining-tokens': String(snapshot.tokensRemaining),
    'x-ratelimit-reset-tokens': formatGoDuration(snapshot.tokensResetMs),
  };
  if (snapshot.requestLimit !== undefined) {
    headers['x-ratelimit-limit-requests'] = String(snapshot.requestLimit);
    headers['x-ratelimit-remaining-requests'] = String(snapshot.requestsRemaining);
    headers['x-ratelimit-reset-requests'] = formatGoDuration(snapshot.requestsResetMs);
  }
  return headers;
}

/** The provider's own rate-limit headers; a generic API reports none. */
export function limitHeaders(provider: ProviderName, snapshot: LimitSnapshot): OutgoingHttpHeaders {
  if (provider === 'anthropic') return anthropicHeaders(snapshot);
  if (provider === 'openai') return openAiHeaders(snapshot);
  return {};
}

export function retryAfterHeaders(retryAfterMs: number): OutgoingHttpHeaders {
  return { 'retry-after': String(Math.ceil(retryAfterMs / 1000)), 'retry-after-ms': String(Math.ceil(retryAfterMs)) };
}
