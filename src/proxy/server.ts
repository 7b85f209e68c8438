import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { limiterPolicyFrom } from '../config/policy.js';
import type { Settings } from '../config/schema.js';
import { Heartbeat } from '../warden/heartbeat.js';
import type { Clock } from '../warden/types.js';
import { Warden } from '../warden/warden.js';
import { handleRequest, type ProxyRuntime } from './handleRequest.js';
import { healthReport } from './health.js';
import { InFlightRequests } from './inFlight.js';
import { cannotListenLine, urlFor } from './listenAddress.js';
import { sendLocalReply } from './localReplies.js';
import { silentLogger, type Logger } from './log.js';
import { checkWorkerSettings } from './startupChecks.js';
import { detectProvider } from './providers/detect.js';
import type { ProviderName } from './providers/types.js';
import { RefusalCounter } from './refusalCounter.js';
import { startTicker, type Ticker } from './ticker.js';
import { upstreamTransport } from './upstreamAgent.js';

/**
 * Where the worker accepts connections: the configured address (`--no-supervise`), the socket its
 * supervisor hands it, or a socket passed by systemd as a file descriptor.
 */
export type ListenTarget = { kind: 'address' } | { kind: 'handle'; server: NetServer } | { kind: 'fd'; fd: number };

export interface ProxyOptions {
  listenOn?: ListenTarget;
  clock?: Clock;
  log?: Logger;
  /** How long a write waits for another process's lock before the request is answered 503. */
  busyTimeoutMs?: number;
}

export interface RunningProxy {
  /** `http://HOST:PORT`, with the port the OS picked when listening on port 0. */
  readonly url: string;
  readonly port: number;
  readonly provider: ProviderName;
  readonly warden: Warden;
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

/*
 * Bounds on what a client may send: slow or oversized headers cannot hold a socket or memory.
 * The request timeout covers receiving the request only, never a long streamed answer.
 */
const headersTimeoutMs = 20_000;
const requestTimeoutMs = 120_000;
const maxHeaderBytes = 32 * 1024;

function listen(server: Server, settings: Settings, target: ListenTarget): Promise<void> {
  const { host, port } = settings.listen;
  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException): void => {
      reject(new Error(target.kind === 'address' ? cannotListenLine(host, port, error) : `cannot accept on the socket handed to ratewarden: ${error.code ?? error.message}`));
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
        server.listen(target.server, listening);
        break;
      case 'fd':
        server.listen({ fd: target.fd }, listening);
        break;
    }
  });
}

/** Starts the proxy worker's HTTP server on the configured address, with its own warden. */
export async function startProxy(settings: Settings, options: ProxyOptions = {}): Promise<RunningProxy> {
  const upstream = checkWorkerSettings(settings);
  const target = options.listenOn ?? { kind: 'address' };
  const clock = options.clock ?? Date.now;
  const log = options.log ?? silentLogger;
  const provider = detectProvider(upstream, settings.provider);
  const policy = limiterPolicyFrom(settings);
  const warden = Warden.open({ dbPath: settings.db as string, policy, clock, durability: settings.durability, busyTimeoutMs: options.busyTimeoutMs });
  const transport = upstreamTransport(upstream);
  const refusals = new RefusalCounter();
  const inFlight = new InFlightRequests();
  const startedAt = clock();
  const identity = { url: '', upstream: upstream.origin, provider };
  let stopping = false;
  let heartbeat: Heartbeat | null = null;

  const runtime: ProxyRuntime = {
    upstream,
    provider,
    warden,
    clock,
    log,
    limits: { maxBodyBytes: settings.maxBody, maxWaitMs: settings.maxWait, defaultMaxTokens: settings.defaultMaxTokens },
    forwardSetup: { upstream, provider, transport, upstreamTimeoutMs: settings.upstreamTimeout },
    recorderSetup: { warden, provider, tokenMetric: policy.tokenMetric, clock, log },
    refusals,
    health: () =>
      healthReport({
        warden,
        policy,
        clock,
        startedAt,
        identity,
        beat: () => heartbeat?.beat(),
        inFlight: () => inFlight.size,
        stopping: () => stopping,
      }),
  };

  function onRequest(request: IncomingMessage, response: ServerResponse): void {
    if (stopping) {
      request.resume();
      sendLocalReply(response, provider, { reason: 'stopping', message: 'ratewarden is stopping; retry in a moment', close: true });
      return;
    }
    const work = handleRequest(runtime, request, response).catch((error: unknown) => {
      log.error('request-failed', `${request.method ?? 'GET'} request failed inside ratewarden: ${(error as Error).message}`);
      if (!response.headersSent) {
        sendLocalReply(response, provider, { reason: 'internal-error', message: `ratewarden could not handle this request: ${(error as Error).message}` });
      } else {
        response.destroy();
      }
    });
    inFlight.track(work);
  }

  const server = createServer({ headersTimeout: headersTimeoutMs, requestTimeout: requestTimeoutMs, maxHeaderSize: maxHeaderBytes, noDelay: true }, onRequest);
  try {
    await listen(server, settings, target);
  } catch (error) {
    transport.agent.destroy();
    warden.close();
    throw error;
  }
  const bound = server.address() as AddressInfo;
  const port = bound.port;
  // A handed socket is bound where its owner bound it; the configured address is what the operator wrote.
  const url = urlFor(target.kind === 'address' ? settings.listen.host : bound.address, port);
  identity.url = url;
  heartbeat = new Heartbeat(warden.db, { role: 'worker', pid: process.pid, startedAt, listen: url, upstream: upstream.origin }, clock);
  let ticker: Ticker;
  try {
    heartbeat.beat();
    ticker = startTicker({ warden, heartbeat, refusals, log, clock, policy });
  } catch (error) {
    server.close();
    transport.agent.destroy();
    warden.close();
    throw error;
  }
  log.info('start', `listening on ${url} → ${upstream.origin} (provider ${provider}, database ${settings.db})`, { url, upstream: upstream.origin, provider, db: settings.db, pid: process.pid });

  async function shutDown(graceMs: number): Promise<void> {
    stopping = true;
    log.info('stopping', `stopping: no new connections; waiting up to ${graceMs} ms for ${inFlight.size} requests in flight`);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const cut = await inFlight.drain(server, graceMs);
    if (cut > 0) log.warn('stop-timeout', `cut off ${cut} requests still running; what they used so far, or their reservations, count as spent`);
    await closed;
    try {
      ticker.stop();
      heartbeat?.forget();
    } catch (error) {
      log.error('store-unavailable', `could not record the stop: ${(error as Error).message}`);
    }
    transport.agent.destroy();
    warden.close();
    log.info('stopped', 'stopped; every request is settled and the database is closed');
  }

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    provider,
    warden,
    close(graceMs = settings.stopTimeout) {
      closing ??= shutDown(graceMs);
      return closing;
    },
    cutOff: () => inFlight.cutOff(),
    adopt(socket) {
      server.emit('connection', socket);
      socket.resume();
    },
  };
}
