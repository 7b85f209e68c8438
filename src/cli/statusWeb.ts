import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../config/errors.js';
import { listenAddress, type ListenAddress } from '../config/fields.js';
import type { Settings } from '../config/schema.js';
import { cannotListenLine, isLoopback, urlFor } from '../proxy/listenAddress.js';
import type { Store } from '../store/port.js';
import { pageAnswerer } from './page.js';
import { loadPageAssets } from './pageAssets.js';
import { readStatus } from './status.js';

/** Where `status --web` serves when no address is given: next to the proxy's default 8787. */
export const defaultWebAddress: ListenAddress = { host: '127.0.0.1', port: 8790 };

const addressField = listenAddress(defaultWebAddress, 'where status --web serves the live page');

/** `--web` alone, or `--web HOST:PORT`; a non-loopback address only with `--allow-remote`. */
export function webAddress(option: boolean | string, allowRemote: boolean): ListenAddress {
  if (option === true) return defaultWebAddress;
  const parsed = addressField.parse(option);
  if (!parsed.ok) throw new ConfigError(`--web: ${JSON.stringify(option)} is not HOST:PORT; ${addressField.example}`);
  if (!isLoopback(parsed.value.host) && !allowRemote) {
    throw new ConfigError(
      `--web: ${parsed.value.host} is not a loopback address, so anyone who can reach it could read this database's groups, budgets and traffic; add --allow-remote to mean it, or serve on 127.0.0.1`,
    );
  }
  return parsed.value;
}

function plain(response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, {
    ...headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(text);
}

/**
 * Serves the live page of a database that no proxy serves (or of one on another host), read-only,
 * until Ctrl-C. The page is the proxy's, without the queue only a running proxy knows.
 */
export async function serveStatusPage(store: Store, settings: Settings, address: ListenAddress, out: NodeJS.WritableStream): Promise<void> {
  const answer = pageAnswerer(loadPageAssets(), () => readStatus(store, settings, null));
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    request.resume();
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      plain(response, 405, 'the live page is read-only: GET only\n', { allow: 'GET, HEAD' });
      return;
    }
    if (path === '/') {
      response.writeHead(302, { location: '/_ratewarden/', 'content-length': 0 });
      response.end();
      return;
    }
    answer(path).then(
      (reply) => {
        if (reply === null) {
          plain(response, 404, `${path} is not part of the live page; open /_ratewarden/\n`);
          return;
        }
        response.writeHead(reply.status, {
          ...reply.headers,
          'content-type': reply.contentType,
          'content-length': Buffer.byteLength(reply.body),
          'cache-control': 'no-store',
        });
        response.end(request.method === 'HEAD' ? undefined : reply.body);
      },
      (error: unknown) => plain(response, 500, `ratewarden could not answer: ${(error as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new ConfigError(cannotListenLine(address.host, address.port, error).replace('--listen', '--web'))),
    );
    server.listen({ host: address.host, port: address.port }, () => resolve());
  });
  const url = urlFor(address.host, (server.address() as AddressInfo).port);
  out.write(`serving the live page of ${store.location} at ${url}/_ratewarden/ (read-only; Ctrl-C stops)\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
