import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { handleRequest, type ProxyRuntime } from './handleRequest.js';
import { InFlightRequests } from './inFlight.js';
import { cannotListenLine, urlFor } from './listenAddress.js';
import { localReasonOf, sendLocalReply } from './localReplies.js';
import type { ProviderName } from './providers/types.js';
import { pathOf } from './target.js';
import type { Warden } from '../warden/warden.js';

/** Where the worker listens: its own address, the supervisor's socket (asked for when it is about to listen), or systemd's fd. */
export type ListenTarget = { kind: 'address' } | { kind: 'handle'; take: () => Promise<NetServer> } | { kind: 'fd'; fd: number };

/** A worker serving: what cli's composition (cli/composeWorker.ts) returns once the server listens. */
export interface RunningProxy {
  /** `http://HOST:PORT`, with the port the OS picked when listening on port 0. */
  readonly url: string;
  readonly port: number;
  /** The `--provider` setting: `auto` chooses per request. */
  readonly provider: 'auto' | ProviderName;
  readonly warden: Warden;
  /** Requests waiting for budget right now. */
  queueLength(): number;
  /**
   * Stops accepting, lets in-flight requests finish for up to `--stop-timeout` (or `graceMs`),
   * then cuts off the rest; settles everything and closes the database. Idempotent.
   */
  close(graceMs?: number): Promise<void>;
  /** Ends the grace period of a close in progress at once (a second Ctrl-C). */
  cutOff(): void;
  /** Serves a connection accepted elsewhere (by the supervisor, on the same socket); nothing may have been read from it. */
  adopt(socket: Socket): void;
}

/** What the server serves with, built by the composition root. */
export interface ServeSetup {
  runtime: ProxyRuntime;
  /** The configured `--listen` address: where a target of kind `address` binds, and the URL's host then. */
  address: { host: string; port: number };
  target: ListenTarget;
  /** Told each local reply (429, 503) once it is sent, besides the metrics: the live page's tally. */
  onLocalReply(status: number, reason: string): void;
}

/*
 * Bounds on what a client may send: slow or oversized headers cannot hold a socket or memory.
 * The request timeout covers receiving the request only, never a long streamed answer.
 */
const headersTimeoutMs = 20_000;
const requestTimeoutMs = 120_000;
const maxHeaderBytes = 32 * 1024;

function listen(server: Server, address: ServeSetup['address'], target: ListenTarget): Promise<void> {
  const { host, port } = address;
  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException): void => {
      reject(
        new Error(
          target.kind === 'address'
            ? cannotListenLine(host, port, error)
            : `cannot accept on the socket handed to ratewarden: ${error.code ?? error.message}`,
        ),
      );
    };
    server.once('error', failed);
    const listening = (): void => {
      server.off('error', failed);
      resolve();
    };
    switch (target.kind) {
      case 'address':
        server.listen({ host, port }, listening);
        break;
      case 'handle':
        target.take().then((handed) => server.listen(handed, listening), failed);
        break;
      case 'fd':
        server.listen({ fd: target.fd }, listening);
        break;
    }
  });
}

/**
 * The worker's HTTP server: accepts, hands each request to handleRequest, tracks what is in
 * flight, and stops by draining it. The parts it serves with are built by cli (the composition root).
 */
export class ProxyServer {
  private readonly http = createServer({
    headersTimeout: headersTimeoutMs,
    requestTimeout: requestTimeoutMs,
    maxHeaderSize: maxHeaderBytes,
    noDelay: true,
  });
  private readonly inFlight = new InFlightRequests();
  private isStopping = false;

  /** True once a stop has begun: new requests, and whoever was waiting in the queue, are answered 503 `stopping`. */
  get stopping(): boolean {
    return this.isStopping;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Listens on the target and serves each request with the setup's runtime; resolves with the URL it serves on. */
  async listen(setup: ServeSetup): Promise<{ url: string; port: number }> {
    this.http.on('request', (request: IncomingMessage, response: ServerResponse) => this.onRequest(setup, request, response));
    await listen(this.http, setup.address, setup.target);
    const bound = this.http.address() as AddressInfo;
    // A handed socket is bound where its owner bound it; the configured address is what the operator wrote.
    return { url: urlFor(setup.target.kind === 'address' ? setup.address.host : bound.address, bound.port), port: bound.port };
  }

  /** The first step of a stop: from now on every new request is answered 503 `stopping`. */
  beginStop(): void {
    this.isStopping = true;
  }

  /**
   * Stops accepting, waits up to `graceMs` for the requests in flight, then cuts off the rest
   * and waits for their settlements; resolves with the number that had to be cut off.
   */
  async drain(graceMs: number): Promise<number> {
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    const cut = await this.inFlight.drain(this.http, graceMs);
    await closed;
    return cut;
  }

  /** A start that failed after listening: stop accepting; nothing was served yet. */
  abandon(): void {
    this.http.close();
  }

  /** Ends the grace period of a drain in progress at once. */
  cutOff(): void {
    this.inFlight.cutOff();
  }

  adopt(socket: Socket): void {
    this.http.emit('connection', socket);
    socket.resume();
  }

  private onRequest(setup: ServeSetup, request: IncomingMessage, response: ServerResponse): void {
    const { runtime } = setup;
    response.once('finish', () => {
      const reason = localReasonOf(response);
      if (reason !== undefined) runtime.metrics.localReply(response.statusCode, reason);
      if (reason !== undefined) setup.onLocalReply(response.statusCode, reason);
    });
    // The provider of an answer given outside handleRequest, which chooses its own.
    const shape = () => runtime.providers({ path: pathOf(request.url), headers: request.headers });
    if (this.isStopping) {
      request.resume();
      sendLocalReply(response, shape(), { reason: 'stopping', message: 'ratewarden is stopping; retry in a moment', close: true });
      return;
    }
    const work = handleRequest(runtime, request, response).catch((error: unknown) => {
      runtime.log.error('request-failed', `${request.method ?? 'GET'} request failed inside ratewarden: ${(error as Error).message}`);
      if (!response.headersSent) {
        sendLocalReply(response, shape(), {
          reason: 'internal-error',
          message: `ratewarden could not handle this request: ${(error as Error).message}`,
        });
      } else {
        response.destroy();
      }
    });
    this.inFlight.track(work);
  }
}
