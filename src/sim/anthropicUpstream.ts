import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { streamAnswer, wholeAnswer, type AnswerPlan } from './anthropicAnswer.js';
import { anthropicLimitHeaders, retryAfterSeconds, type RemainingRounding } from './anthropicLimitHeaders.js';
import { AnthropicLimiter, type ClassLimits, type LimitName, type OversizedOutputRule, type Refusal } from './anthropicLimiter.js';
import { parseMessagesRequest, type MessagesRequest } from './anthropicRequest.js';
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

/** The message Anthropic's 429 body carries: the organization, the limit that refused and its per-minute rate. */
function rateLimitMessage(organization: string, limit: LimitName, limits: ClassLimits): string {
  const perMinute =
    limit === 'requests' ? limits.requestsPerMinute : limit === 'input-tokens' ? limits.inputTokensPerMinute : limits.outputTokensPerMinute;
  return `This request would exceed the rate limit for your organization (${organization}) of ${perMinute.toLocaleString('en-US')} ${LIMIT_WORDS[limit]} per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.`;
}

/** One request that passed validation: who sent it, for which class, and its arrival record. */
interface ValidCall {
  at: number;
  serial: number;
  account: ApiKey;
  modelClass: ModelClass;
  request: MessagesRequest;
  heads: OutgoingHttpHeaders;
  arrival: UpstreamArrival;
}

/** The upstream's state (limits, prompt caches, arrivals) and how it answers one request. */
class AnthropicSimulation {
  readonly log: UpstreamArrival[] = [];
  private readonly scale: number;
  private readonly limiter: AnthropicLimiter;
  private readonly caches = new Map<string, PromptCache>();
  private readonly rounding: RemainingRounding;
  private readonly pace: readonly [number, number];
  private readonly firstToken: readonly [number, number];
  private counter = 0;

  constructor(private readonly options: AnthropicUpstreamOptions) {
    this.scale = options.timeScale;
    const startAt = Date.now();
    this.limiter = new AnthropicLimiter(
      (name) => this.limitsOf(name),
      {
        windowMs: 60_000 / this.scale,
        cacheReadsCountTowardItpm: options.cacheReadsCountTowardItpm ?? false,
        oversizedOutput: options.oversizedOutput ?? 'admit-when-full',
      },
      startAt,
    );
    this.rounding = options.rounding ?? 'nearest';
    this.pace = options.tokensPerSecond ?? [50, 100];
    this.firstToken = options.firstTokenMs ?? [500, 2_000];
  }

  async handle(request: IncomingMessage, response: ServerResponse, body: Buffer): Promise<void> {
    const call = this.validate(request, response, body);
    if (call === null) return;
    const { at, account, modelClass, arrival } = call;
    const { maxTokens, blocks } = call.request;
    // The cache is looked up before admission only to know the charge; it is written only when admitted.
    const cache = this.cacheFor(modelClass);
    const workspace = account.workspace ?? account.organization;
    const usage = cache.use(workspace, blocks, at, { dryRun: true });
    const admission = this.limiter.admit(
      account.organization,
      modelClass.name,
      { inputTokens: this.limiter.inputCharge(usage), maxTokens },
      at,
    );
    if (!admission.admitted) return this.refuse(response, call, admission);
    arrival.status = 200;
    arrival.usage = cache.use(workspace, blocks, at);
    await this.answer(response, call, this.planAnswer(request, body, call, arrival.usage), admission.outputCharged);
  }

  /** Answers 404, 401 or 400 as the API does and returns null, or records the arrival of a valid request. */
  private validate(request: IncomingMessage, response: ServerResponse, body: Buffer): ValidCall | null {
    const at = Date.now();
    const serial = ++this.counter;
    const base = { 'request-id': `req_sim_${serial.toString(36).padStart(8, '0')}` };
    const url = new URL(request.url ?? '/', 'http://sim.invalid');
    if (request.method !== 'POST' || url.pathname !== '/v1/messages') return refused(response, 404, 'not_found_error', 'Not found', base);
    const key = apiKeyOf(request);
    const account = key === undefined ? undefined : this.options.keys[key];
    if (key === undefined || account === undefined) return refused(response, 401, 'authentication_error', 'invalid x-api-key', base);
    const parsed = parseMessagesRequest(body);
    if (!parsed.ok) return refused(response, 400, 'invalid_request_error', parsed.message, base);
    const { model, maxTokens } = parsed.request;
    const modelClass = this.classOf(model);
    if (modelClass === undefined) return refused(response, 404, 'not_found_error', `model: ${model}`, base);
    const organization = account.organization;
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
    this.log.push(arrival);
    return {
      at,
      serial,
      account,
      modelClass,
      request: parsed.request,
      heads: { ...base, 'anthropic-organization-id': organization },
      arrival,
    };
  }

  private refuse(response: ServerResponse, call: ValidCall, refusal: Refusal): void {
    const { arrival, modelClass } = call;
    arrival.status = 429;
    arrival.limitedBy = refusal.limitedBy;
    const limit = refusal.limitedBy[0] ?? 'requests';
    const message = rateLimitMessage(call.account.organization, limit, this.limitsOf(modelClass.name));
    return sendError(response, 429, 'rate_limit_error', message, {
      ...call.heads,
      ...this.limitHeaders(call, call.at),
      'retry-after': retryAfterSeconds(refusal.retryAfterMs, this.scale),
    });
  }

  /** The answer's length and pace, drawn from the body so that the same request gets the same answer. */
  private planAnswer(request: IncomingMessage, body: Buffer, call: ValidCall, usage: CacheUsage): AnswerPlan {
    const { model, maxTokens } = call.request;
    const natural = Number(request.headers[ANSWER_HEADER] ?? Number.NaN);
    const naturalTokens = Number.isInteger(natural) && natural > 0 ? natural : Math.round(between([200, 2_000], unitDraw(body, 'answer')));
    return {
      id: `msg_sim_${call.serial.toString(36)}`,
      model,
      usage,
      outputTokens: Math.min(naturalTokens, maxTokens),
      hitMaxTokens: naturalTokens > maxTokens,
      firstTokenMs: between(this.firstToken, unitDraw(body, 'first token')) / this.scale,
      tokensPerSecond: between(this.pace, unitDraw(body, 'pace')) * this.scale,
    };
  }

  /** Sends the answer (streamed or whole), then settles the output charge with what was really generated. */
  private async answer(response: ServerResponse, call: ValidCall, plan: AnswerPlan, outputCharged: number): Promise<void> {
    const aborter = new AbortController();
    response.once('close', () => aborter.abort());
    let generated = 0;
    try {
      if (call.request.stream) {
        response.writeHead(200, {
          ...call.heads,
          ...this.limitHeaders(call, Date.now()),
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
        });
        generated = await streamAnswer(response, plan, aborter.signal);
      } else {
        const message = await wholeAnswer(plan, aborter.signal);
        if (message !== null) {
          generated = plan.outputTokens;
          response.writeHead(200, { ...call.heads, ...this.limitHeaders(call, Date.now()), 'content-type': 'application/json' });
          response.end(JSON.stringify(message));
        }
      }
    } finally {
      call.arrival.outputTokens = generated;
      call.arrival.completed = generated === plan.outputTokens && !aborter.signal.aborted;
      this.limiter.finish(call.account.organization, call.modelClass.name, outputCharged, generated, Date.now());
    }
  }

  private limitHeaders(call: ValidCall, now: number): OutgoingHttpHeaders {
    const report = this.limiter.report(call.account.organization, call.modelClass.name, now);
    return anthropicLimitHeaders(report, { rounding: this.rounding, timeScale: this.scale, now });
  }

  private classOf(model: string): ModelClass | undefined {
    return this.options.classes.find((entry) => model.startsWith(entry.prefix));
  }

  private limitsOf(name: string): ClassLimits {
    const found = this.options.classes.find((entry) => entry.name === name);
    if (found === undefined) throw new Error(`no model class ${name}`);
    return found.limits;
  }

  private cacheFor(modelClass: ModelClass): PromptCache {
    let cache = this.caches.get(modelClass.name);
    if (cache === undefined) {
      cache = new PromptCache({
        ttlMs: (this.options.cacheTtlMs ?? 300_000) / this.scale,
        minCacheableTokens: modelClass.minCacheableTokens,
      });
      this.caches.set(modelClass.name, cache);
    }
    return cache;
  }
}

/** Sends an error answer and returns null: what validation returns for a request it turned away. */
function refused(response: ServerResponse, status: number, type: string, message: string, headers: OutgoingHttpHeaders): null {
  sendError(response, status, type, message, headers);
  return null;
}

export async function startAnthropicUpstream(options: AnthropicUpstreamOptions): Promise<AnthropicUpstream> {
  const simulation = new AnthropicSimulation(options);
  const sockets = new Set<Socket>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.once('end', () => {
      simulation.handle(request, response, Buffer.concat(chunks)).catch(() => response.destroy());
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
    arrivals: () => simulation.log,
    close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      return closed;
    },
  };
}
