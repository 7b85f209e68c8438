import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { streamAnswer, wholeAnswer, type AnswerPlan } from './anthropicAnswer.js';
import { anthropicLimitHeaders, retryAfterSeconds, type RemainingRounding } from './anthropicLimitHeaders.js';
import { AnthropicLimiter, type ClassLimits, type LimitName, type OversizedOutputRule } from './anthropicLimiter.js';
import { parseMessagesRequest } from './anthropicRequest.js';
import { PromptCache, type CacheUsage } from './promptCache.js';

/**
 * A simulated Anthropic Messages API that applies the rate limits as Anthropic documents them
 * (see anthropicLimiter.ts, promptCache.ts and docs/demo.md, "The simulated Anthropic
 * upstream"). Every duration is real time divided by `timeScale`.
 */
export interface ModelClass {
  /** Models whose name starts with this belong to the class (`claude-opus`, `claude-haiku`). */
  prefix: string;
  name: string;
  limits: ClassLimits;
  /** The shortest prefix the cache stores; 1024 for the Sonnet and Opus classes. */
  minCacheableTokens: number;
}

export interface ApiKey {
  organization: string;
  /** The prompt cache's isolation unit; the organization's own when absent. */
  workspace?: string;
}

export interface AnthropicUpstreamOptions {
  port?: number;
  timeScale: number;
  keys: Record<string, ApiKey>;
  classes: readonly ModelClass[];
  cacheReadsCountTowardItpm?: boolean;
  oversizedOutput?: OversizedOutputRule;
  rounding?: RemainingRounding;
  /** Real-time generation pace; default 50–100 tokens/s. */
  tokensPerSecond?: readonly [number, number];
  /** Real-time wait before the first token; default 0.5–2 s. */
  firstTokenMs?: readonly [number, number];
  /** Real-time cache lifetime; default 5 minutes. */
  cacheTtlMs?: number;
}

/** One request as the upstream saw it. */
export interface UpstreamArrival {
  at: number;
  key: string;
  organization: string;
  modelClass: string;
  status: number;
  limitedBy: LimitName[];
  usage: CacheUsage | null;
  maxTokens: number;
  /** Output tokens generated and sent; null until the answer ends. */
  outputTokens: number | null;
  completed: boolean;
}

export interface AnthropicUpstream {
  readonly url: string;
  arrivals(): readonly UpstreamArrival[];
  close(): Promise<void>;
}

/** The answer's natural length: a request may name it (`x-sim-answer-tokens`), else drawn from its body. */
const ANSWER_HEADER = 'x-sim-answer-tokens';

function unitDraw(body: Buffer, salt: string): number {
  return createHash('sha1').update(salt).update(body).digest().readUInt32BE(0) / 4_294_967_296;
}

function between(range: readonly [number, number], draw: number): number {
  return range[0] + (range[1] - range[0]) * draw;
}

function apiKeyOf(request: IncomingMessage): string | undefined {
  const key = request.headers['x-api-key'];
  if (typeof key === 'string') return key;
  const bearer = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1];
  return bearer;
}

function sendError(response: ServerResponse, status: number, type: string, message: string, headers: OutgoingHttpHeaders = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify({ type: 'error', error: { type, message } }));
}

const LIMIT_WORDS: Record<LimitName, string> = { requests: 'requests', 'input-tokens': 'input tokens', 'output-tokens': 'output tokens' };

export async function startAnthropicUpstream(options: AnthropicUpstreamOptions): Promise<AnthropicUpstream> {
  const scale = options.timeScale;
  const startAt = Date.now();
  const classOf = (model: string): ModelClass | undefined => options.classes.find((entry) => model.startsWith(entry.prefix));
  const limitsOf = (name: string): ClassLimits => {
    const found = options.classes.find((entry) => entry.name === name);
    if (found === undefined) throw new Error(`no model class ${name}`);
    return found.limits;
  };
  const limiter = new AnthropicLimiter(
    limitsOf,
    {
      windowMs: 60_000 / scale,
      cacheReadsCountTowardItpm: options.cacheReadsCountTowardItpm ?? false,
      oversizedOutput: options.oversizedOutput ?? 'admit-when-full',
    },
    startAt,
  );
  const caches = new Map<string, PromptCache>();
  const cacheFor = (modelClass: ModelClass): PromptCache => {
    let cache = caches.get(modelClass.name);
    if (cache === undefined) {
      cache = new PromptCache({ ttlMs: (options.cacheTtlMs ?? 300_000) / scale, minCacheableTokens: modelClass.minCacheableTokens });
      caches.set(modelClass.name, cache);
    }
    return cache;
  };
  const rounding = options.rounding ?? 'nearest';
  const pace = options.tokensPerSecond ?? [50, 100];
  const firstToken = options.firstTokenMs ?? [500, 2_000];
  const log: UpstreamArrival[] = [];
  const sockets = new Set<Socket>();
  let counter = 0;

  async function handle(request: IncomingMessage, response: ServerResponse, body: Buffer): Promise<void> {
    const at = Date.now();
    const requestId = `req_sim_${(++counter).toString(36).padStart(8, '0')}`;
    const base = { 'request-id': requestId };
    const url = new URL(request.url ?? '/', 'http://sim.invalid');
    if (request.method !== 'POST' || url.pathname !== '/v1/messages') return sendError(response, 404, 'not_found_error', 'Not found', base);
    const key = apiKeyOf(request);
    const account = key === undefined ? undefined : options.keys[key];
    if (key === undefined || account === undefined) return sendError(response, 401, 'authentication_error', 'invalid x-api-key', base);
    const parsed = parseMessagesRequest(body);
    if (!parsed.ok) return sendError(response, 400, 'invalid_request_error', parsed.message, base);
    const { model, maxTokens, stream, blocks } = parsed.request;
    const modelClass = classOf(model);
    if (modelClass === undefined) return sendError(response, 404, 'not_found_error', `model: ${model}`, base);
    const organization = account.organization;
    const heads = { ...base, 'anthropic-organization-id': organization };
    const arrival: UpstreamArrival = {
      at,
      key,
      organization,
      modelClass: modelClass.name,
      status: 0,
      limitedBy: [],
      usage: null,
      maxTokens,
      outputTokens: null,
      completed: false,
    };
    log.push(arrival);

    // The cache is looked up before admission only to know the charge; it is written only when admitted.
    const cache = cacheFor(modelClass);
    const workspace = account.workspace ?? organization;
    const usage = cache.use(workspace, blocks, at, { dryRun: true });
    const admission = limiter.admit(organization, modelClass.name, { inputTokens: limiter.inputCharge(usage), maxTokens }, at);
    const limitHeaders = (now: number): OutgoingHttpHeaders =>
      anthropicLimitHeaders(limiter.report(organization, modelClass.name, now), { rounding, timeScale: scale, now });
    if (!admission.admitted) {
      arrival.status = 429;
      arrival.limitedBy = admission.limitedBy;
      const limit = admission.limitedBy[0] ?? 'requests';
      const limits = limitsOf(modelClass.name);
      const perMinute =
        limit === 'requests'
          ? limits.requestsPerMinute
          : limit === 'input-tokens'
            ? limits.inputTokensPerMinute
            : limits.outputTokensPerMinute;
      const message = `This request would exceed the rate limit for your organization (${organization}) of ${perMinute.toLocaleString('en-US')} ${LIMIT_WORDS[limit]} per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.`;
      return sendError(response, 429, 'rate_limit_error', message, {
        ...heads,
        ...limitHeaders(at),
        'retry-after': retryAfterSeconds(admission.retryAfterMs, scale),
      });
    }
    arrival.status = 200;
    arrival.usage = cache.use(workspace, blocks, at);
    const natural = Number(request.headers[ANSWER_HEADER] ?? Number.NaN);
    const naturalTokens = Number.isInteger(natural) && natural > 0 ? natural : Math.round(between([200, 2_000], unitDraw(body, 'answer')));
    const plan: AnswerPlan = {
      id: `msg_sim_${counter.toString(36)}`,
      model,
      usage: arrival.usage,
      outputTokens: Math.min(naturalTokens, maxTokens),
      hitMaxTokens: naturalTokens > maxTokens,
      firstTokenMs: between(firstToken, unitDraw(body, 'first token')) / scale,
      tokensPerSecond: between(pace, unitDraw(body, 'pace')) * scale,
    };
    const aborter = new AbortController();
    response.once('close', () => aborter.abort());
    let generated = 0;
    try {
      if (stream) {
        response.writeHead(200, {
          ...heads,
          ...limitHeaders(Date.now()),
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
        });
        generated = await streamAnswer(response, plan, aborter.signal);
      } else {
        const message = await wholeAnswer(plan, aborter.signal);
        if (message !== null) {
          generated = plan.outputTokens;
          response.writeHead(200, { ...heads, ...limitHeaders(Date.now()), 'content-type': 'application/json' });
          response.end(JSON.stringify(message));
        }
      }
    } finally {
      arrival.outputTokens = generated;
      arrival.completed = generated === plan.outputTokens && !aborter.signal.aborted;
      limiter.finish(organization, modelClass.name, admission.outputCharged, generated, Date.now());
    }
  }

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.once('end', () => {
      handle(request, response, Buffer.concat(chunks)).catch(() => response.destroy());
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals: () => log,
    close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      return closed;
    },
  };
}
