import type { ServerResponse } from 'node:http';
import type { ProviderAdapter } from './providers/adapter.js';
import type { LocalErrorKind } from './providers/errorBodies.js';

/** Why ratewarden answered itself; every local answer names it in `x-ratewarden-reason`. */
export type LocalReason =
  | 'cooldown'
  | 'probe'
  | 'budget'
  | 'quota'
  | 'body-too-large'
  | 'upstream-unreachable'
  | 'upstream-timeout'
  | 'no-upstream'
  | 'store-unavailable'
  | 'unsupported-target'
  | 'path-climbs-out'
  | 'reserved-path'
  | 'stopping'
  | 'restarting'
  | 'gave-up'
  | 'internal-error';

const KIND_OF: Record<LocalReason, { status: number; kind: LocalErrorKind }> = {
  cooldown: { status: 429, kind: 'rate_limit' },
  probe: { status: 429, kind: 'rate_limit' },
  budget: { status: 429, kind: 'rate_limit' },
  quota: { status: 429, kind: 'quota' },
  'body-too-large': { status: 413, kind: 'too_large' },
  'upstream-unreachable': { status: 502, kind: 'bad_gateway' },
  'upstream-timeout': { status: 504, kind: 'timeout' },
  // 421 Misdirected Request: this proxy cannot answer it, and no SDK retries it.
  'no-upstream': { status: 421, kind: 'bad_request' },
  'store-unavailable': { status: 503, kind: 'unavailable' },
  'unsupported-target': { status: 404, kind: 'not_found' },
  'path-climbs-out': { status: 400, kind: 'bad_request' },
  'reserved-path': { status: 404, kind: 'not_found' },
  stopping: { status: 503, kind: 'unavailable' },
  // Answered by the supervisor while no worker runs: what the SDKs retry as a 5xx after Retry-After.
  restarting: { status: 503, kind: 'overloaded' },
  'gave-up': { status: 503, kind: 'overloaded' },
  'internal-error': { status: 500, kind: 'unavailable' },
};

/** Every local answer's status code and reason: the metrics export each at 0 from the start. */
export const localReplyCodes: readonly { code: number; reason: LocalReason }[] = Object.entries(KIND_OF).map(([reason, { status }]) => ({
  code: status,
  reason: reason as LocalReason,
}));

export interface LocalReply {
  reason: LocalReason;
  message: string;
  headers?: Record<string, string>;
  /** Close the connection afterwards: the request body was not (fully) read. */
  close?: boolean;
}

/** Which answers ratewarden gave itself, for the metrics: an upstream's own header proves nothing. */
const localReasons = new WeakMap<ServerResponse, LocalReason>();

export function localReasonOf(response: ServerResponse): LocalReason | undefined {
  return localReasons.get(response);
}

/** Answers in the request's provider's own error shape, so that its SDK recognises the error. */
export function sendLocalReply(response: ServerResponse, provider: ProviderAdapter, reply: LocalReply): void {
  if (response.headersSent || response.destroyed) {
    response.destroy();
    return;
  }
  const { status, kind } = KIND_OF[reply.reason];
  const body = provider.errorBody(kind, reply.message);
  localReasons.set(response, reply.reason);
  const headers: Record<string, string | number> = {
    'x-ratewarden-reason': reply.reason,
    ...reply.headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  };
  if (reply.close) headers.connection = 'close';
  response.writeHead(status, headers);
  response.end(body);
}
