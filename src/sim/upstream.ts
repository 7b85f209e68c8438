import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ProviderName } from '../proxy/providers/types.js';
import type { LimitShape } from './allowance.js';
import { answerModelRequest, outputReservationOf, providerOf, type ModelApi } from './modelRoutes.js';
import { startOtherTenant, type OtherTenant } from './otherTenant.js';
import { sendRateLimited } from './rateLimitReply.js';
import type { SimCompression } from './replyBody.js';
import { inputTokensOf, type ReplyContext, type RetryAfterMode, type SimSettings } from './replyContext.js';
import { SimLedger, type Need, type SimStats } from './simLedger.js';
import { answerEcho, answerSlow, answerStatus } from './utilityRoutes.js';

export type { SimStats } from './simLedger.js';
export type { SimCompression } from './replyBody.js';
export type { RetryAfterMode } from './replyContext.js';
export type { LimitShape } from './allowance.js';

export interface SimUpstreamOptions {
  /** Default 0: the OS picks a free port. */
  port?: number;
  /**
   * `sliding-window` (default here, for the tests written against it) or `token-bucket`
   * (Anthropic's shape; the replay's default): see allowance.ts.
   */
  shape?: LimitShape;
  /** Tokens (input + output) allowed per window (a bucket's size, refilled over one window); default 10000. */
  tokenLimit?: number;
  /** Requests allowed per sliding window; unlimited when absent. */
  requestLimit?: number;
  windowMs?: number;
  now?: () => number;
  /** Length of every answer before `max_tokens` cuts it short; default 50. */
  outputTokens?: number;
  /** Content deltas per streamed answer; default 5. */
  streamChunks?: number;
  /** Pause between streamed events; default 0. */
  streamDelayMs?: number;
  /** Compress answers with this coding when the client accepts it. */
  compress?: SimCompression;
  /** Send the provider's rate-limit headers; default true. */
  reportLimits?: boolean;
  /** `until-room` (default): 429s say when the window has room again; `none`: no Retry-After. */
  retryAfterMode?: RetryAfterMode;
  /** The organization every answer names, as the real upstreams do (`anthropic-organization-id`, `openai-organization`); none by default. */
  organizationId?: string;
}

/**
 * `hang` reads requests and never answers; `down` drops every connection as soon as it opens;
 * `always-429` refuses everything, as an upstream does after an account-level limit.
 */
export type SimMode = 'normal' | 'always-429' | 'hang' | 'down';

export interface SimRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface SimUpstream {
  /** Base URL, e.g. `http://127.0.0.1:41234`, without a trailing slash. */
  readonly url: string;
  readonly port: number;
  stats(): SimStats;
  lastRequest(): SimRequest | null;
  setMode(mode: SimMode): void;
  resetStats(): void;
  isExhausted(): boolean;
  windowUsage(): { tokens: number; requests: number };
  /**
   * A second tenant on the same key that bypasses the proxy: it draws `tokensPerWindow` in
   * requests of `requestTokens` each (0 stops it). A rate above the limit makes a storm.
   */
  setOtherTenant(tokensPerWindow: number, requestTokens: number): void;
  /** Stops listening and destroys every open socket, hung ones included. */
  close(): Promise<void>;
}

type Route = { kind: 'model'; api: ModelApi } | { kind: 'slow' } | { kind: 'status'; status: number } | { kind: 'echo' };

const MODEL_PATHS: Record<string, ModelApi> = {
  '/v1/messages': 'anthropic-messages',
  '/v1/chat/completions': 'openai-chat',
  '/v1/responses': 'openai-responses',
};

function routeOf(method: string, pathname: string): Route {
  const api = MODEL_PATHS[pathname];
  if (api !== undefined && method === 'POST') return { kind: 'model', api };
  if (pathname === '/slow') return { kind: 'slow' };
  const status = /^\/status\/([2-5]\d\d)$/.exec(pathname)?.[1];
  if (status !== undefined) return { kind: 'status', status: Number(status) };
  return { kind: 'echo' };
}

function providerOfRoute(route: Route): ProviderName {
  return route.kind === 'model' ? providerOf(route.api) : 'generic';
}

function settingsFrom(options: SimUpstreamOptions): SimSettings {
  return {
    shape: options.shape ?? 'sliding-window',
    tokenLimit: options.tokenLimit ?? 10_000,
    requestLimit: options.requestLimit,
    windowMs: options.windowMs ?? 60_000,
    outputTokens: options.outputTokens ?? 50,
    streamChunks: options.streamChunks ?? 5,
    streamDelayMs: options.streamDelayMs ?? 0,
    compress: options.compress,
    reportLimits: options.reportLimits ?? true,
    retryAfterMode: options.retryAfterMode ?? 'until-room',
  };
}

/** A model request needs its input and, in a token bucket, its whole output reservation. */
function needOf(route: Route, body: Buffer, settings: SimSettings): Need {
  const output = route.kind === 'model' && settings.shape === 'token-bucket' ? outputReservationOf(body, settings) : 0;
  return { tokens: inputTokensOf(body) + output, requests: 1 };
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.once('end', () => resolve(Buffer.concat(chunks)));
    request.once('error', reject);
    request.once('close', () => {
      if (!request.complete) reject(new Error('request aborted'));
    });
  });
}

function answerRoute(context: ReplyContext, route: Route): Promise<void> | void {
  switch (route.kind) {
    case 'model':
      return answerModelRequest(context, route.api);
    case 'slow':
      return answerSlow(context);
    case 'status':
      return answerStatus(context, route.status);
    case 'echo':
      return answerEcho(context);
  }
}

/** The upstream's mode, last request and answer ids, and how it answers one request; startSimUpstream puts it behind a server. */
class SimRequestHandler {
  mode: SimMode = 'normal';
  last: SimRequest | null = null;
  private idCounter = 0;

  constructor(
    private readonly options: SimUpstreamOptions,
    private readonly settings: SimSettings,
    private readonly ledger: SimLedger,
    private readonly now: () => number,
  ) {}

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (this.options.organizationId !== undefined) {
      response.setHeader('anthropic-organization-id', this.options.organizationId);
      response.setHeader('openai-organization', this.options.organizationId);
    }
    if (this.mode === 'down') {
      request.socket.destroy();
      return;
    }
    const arrivedAt = this.now();
    const aborter = new AbortController();
    response.once('close', () => aborter.abort());
    const body = await readBody(request);
    const method = request.method ?? 'GET';
    this.last = { method, url: request.url ?? '/', headers: request.headers, body };
    const url = new URL(request.url ?? '/', 'http://sim.invalid');
    const route = routeOf(method, url.pathname);
    const need = needOf(route, body, this.settings);
    const refusedOnArrival = this.ledger.arrive(arrivedAt, need);
    if (this.mode === 'hang') return;

    const context: ReplyContext = {
      request,
      response,
      url,
      body,
      arrivedAt,
      need,
      settings: this.settings,
      ledger: this.ledger,
      now: this.now,
      signal: aborter.signal,
      nextId: () => ++this.idCounter,
    };
    if (this.mode === 'always-429' || refusedOnArrival) return sendRateLimited(context, providerOfRoute(route));
    return answerRoute(context, route);
  }
}

function listenOnLoopback(server: Server, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export async function startSimUpstream(options: SimUpstreamOptions = {}): Promise<SimUpstream> {
  const settings = settingsFrom(options);
  const now = options.now ?? Date.now;
  const ledger = new SimLedger(settings, now());
  const handler = new SimRequestHandler(options, settings, ledger, now);
  let otherTenant: OtherTenant | null = null;
  const sockets = new Set<Socket>();

  const server = createServer((request, response) => {
    handler.handle(request, response).catch(() => response.destroy());
  });
  server.on('connection', (socket: Socket) => {
    if (handler.mode === 'down') {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await listenOnLoopback(server, options.port ?? 0);
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats: () => ledger.stats(),
    lastRequest: () => handler.last,
    setMode(next) {
      handler.mode = next;
    },
    resetStats: () => ledger.resetStats(),
    isExhausted: () => ledger.isExhausted(now()),
    windowUsage: () => ledger.usage(now()),
    setOtherTenant(tokensPerWindow, requestTokens) {
      otherTenant?.stop();
      otherTenant =
        tokensPerWindow > 0 ? startOtherTenant(ledger, { tokensPerWindow, requestTokens, windowMs: settings.windowMs }, now) : null;
    },
    close() {
      otherTenant?.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      return closed;
    },
  };
}
