import { isIP } from 'node:net';
import { ConfigError } from '../config/errors.js';
import type { ListenAddress } from '../config/fields.js';

export function isLoopback(host: string): boolean {
  const lower = host.toLowerCase();
  if (lower === 'localhost' || lower === '::1') return true;
  return isIP(lower) === 4 && lower.startsWith('127.');
}

/** A proxy that spends the operator's API budget must not be reachable from elsewhere by accident. */
export function checkListenAddress(listen: ListenAddress, allowRemote: boolean): void {
  if (!isLoopback(listen.host) && !allowRemote) {
    throw new ConfigError(
      `listen: ${listen.host} is not a loopback address, so anyone who can reach it could spend your API budget; add --allow-remote to mean it, or listen on 127.0.0.1`,
    );
  }
}

/** `http://127.0.0.1:8787`, `http://[::1]:8787`. */
export function urlFor(host: string, port: number): string {
  return `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/** The one line for a listen address that cannot be bound, e.g. one another process holds. */
export function cannotListenLine(host: string, port: number, error: NodeJS.ErrnoException): string {
  const why =
    error.code === 'EADDRINUSE'
      ? 'the address is in use; stop the other process or choose another --listen'
      : `${error.code ?? error.message}; check --listen`;
  return `cannot listen on ${urlFor(host, port)}: ${why}`;
}
