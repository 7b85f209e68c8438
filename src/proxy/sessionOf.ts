import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Who a request is from, for the fair queue (core/queueOrder.ts): Claude Code's session
 * (`X-Claude-Code-Session-Id`), else the API key (by fingerprint), else the client connection.
 * Only compared, never stored.
 */
export function sessionOf(
  headers: IncomingHttpHeaders,
  fingerprint: string | null,
  socket: Pick<Socket, 'remoteAddress' | 'remotePort'>,
): string {
  const raw = headers['x-claude-code-session-id'];
  const session = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (session !== undefined && session !== '') return `session:${session.slice(0, 128)}`;
  if (fingerprint !== null) return `key:${fingerprint}`;
  return `connection:${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
}

/**
 * A session as the live page shows it: a client's session id is its own (a header it sent,
 * never stored), so only a short keyed hash of it (with the store's fingerprint secret, as keys
 * are fingerprinted: a guessable id cannot be found by trying); a key by its fingerprint, as
 * status names keys; a connection by its address.
 */
export function sessionLabel(session: string, secret: string): string {
  const [kind = '', ...rest] = session.split(':');
  const value = rest.join(':');
  if (value === '') return 'unknown';
  if (kind === 'session') return `session ${createHmac('sha256', secret).update(value).digest('hex').slice(0, 8)}`;
  return `${kind} ${value}`;
}

/** `x-ratewarden-priority: batch` lets a request yield to interactive ones; anything else is interactive. */
export const priorityHeader = 'x-ratewarden-priority';

export function priorityOf(headers: IncomingHttpHeaders): 'interactive' | 'batch' {
  const raw = headers[priorityHeader];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim().toLowerCase();
  return value === 'batch' ? 'batch' : 'interactive';
}
