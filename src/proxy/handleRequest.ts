import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultScope } from '../core/scopes.js';
import { StoreUnavailableError } from '../store/unavailable.js';
import type { Clock } from '../kernel/clock.js';
import type { Admission, AdmitInput, Refusal } from '../warden/types.js';
import type { Warden } from '../warden/warden.js';
import type { AdmissionQueue, ClientGone } from './admissionQueue.js';
import { forward, type ExchangeRecorder } from './forward.js';
import { sendLocalReply, type LocalReply } from './localReplies.js';
import type { Logger } from '../kernel/log.js';
import type { ProxyMetrics, RequestTiming } from './metrics.js';
import type { ProviderAdapter, ProviderChooser } from './providers/adapter.js';
import { refusalHeaders } from './rateLimitFields.js';
import { exchangeRecorder, type ExchangeRequest, type RecorderSetup } from './recorder.js';
import type { RefusalCounter } from './refusalCounter.js';
import { readRequestBody, type BodyRead } from './requestBody.js';
import { requestCharge } from './requestCharge.js';
import { sessionOf as conversationOf } from './cachedShareLearner.js';
import type { RequestScope } from './scopeOf.js';
import { priorityOf, sessionOf } from './sessionOf.js';
import { learningOrganization } from './organizationLearner.js';
import type { ProviderName } from './providers/types.js';
import type { HealthReport } from './health.js';
import type { PageAnswerer } from './pageEndpoint.js';
import { answerReserved } from './reserved.js';
import { isReserved, parseTarget, upstreamPathFor, type RequestTarget, type TargetProblem } from './target.js';
import { isApiCall, unrecordedExchange } from './notApiCall.js';
import type { UpstreamRoute, UpstreamRoutes } from './upstreamRoutes.js';

export interface RequestLimits {
  maxBodyBytes: number;
  maxWaitMs: number;
  defaultMaxTokens: number;
  /** UNSAFE (the seed's retry): resend a 429'd request after `afterMs`, at most `resends` times; 0 ms is off. */
  unsafeRetry429: { afterMs: number; resends: number };
  outputReserveMax: number | null;
}

/** Everything one request needs; built once by the server. */
export interface ProxyRuntime {
  /** One upstream, or one per provider: each request goes to its provider's. */
  upstreams: UpstreamRoutes;
  /** Chooses each request's provider adapter once, from its shape (and `--provider`). */
  providers: ProviderChooser;
  /** Names the scope a request counts against (its limit group), from its key, its model and its provider. */
  scopeOf: (headers: IncomingMessage['headers'], model: string | null, provider?: ProviderName) => RequestScope;
  warden: Warden;
  queue: AdmissionQueue;
  clock: Clock;
  log: Logger;
  limits: RequestLimits;
  recorderSetup: RecorderSetup;
  refusals: RefusalCounter;
  health: () => Promise<HealthReport>;
  metrics: ProxyMetrics;
  page?: PageAnswerer;
  /** True once the proxy is stopping: whoever was still waiting in the queue is answered 503 `stopping`. */
  stopping?: () => boolean;
}

const targetRefusal: Record<TargetProblem, LocalReply> = {
  unsupported: { reason: 'unsupported-target', message: 'ratewarden forwards only requests for a path, such as POST /v1/messages' },
  'climbs-out': {
    reason: 'path-climbs-out',
    message: 'the request path climbs above its root with ".." segments; send the path without them',
  },
};

/** An API call whose body has been read, with its provider and its upstream. */
interface ApiCall {
  request: IncomingMessage;
  response: ServerResponse;
  provider: ProviderAdapter;
  route: UpstreamRoute;
  target: RequestTarget;
  body: Extract<BodyRead, { kind: 'read' }>;
}

/**
 * The signal that aborts when the client goes away before its answer is complete. Only a request
 * that waits (in the queue, or for the seed's resend) needs one, so it is made the first time it
 * is asked for, not for every request: a client gone by then finds it aborted already.
 */
function clientGoneSignal(request: IncomingMessage, response: ServerResponse): ClientGone {
  let signal: AbortSignal | undefined;
  return () => {
    if (signal !== undefined) return signal;
    const controller = new AbortController();
    signal = controller.signal;
    if (request.socket.destroyed) controller.abort();
    else
      response.once('close', () => {
        if (!response.writableFinished) controller.abort();
      });
    return signal;
  };
}

function sizeText(bytes: number): string {
  return bytes >= 1_048_576 ? `${Number((bytes / 1_048_576).toFixed(1))} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

/** The request lifecycle of DESIGN.md: read, admit (or refuse locally), forward, settle. */
export async function handleRequest(runtime: ProxyRuntime, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const { limits } = runtime;
  const timing = runtime.metrics.requestTiming();
  const parsed = parseTarget(request.url);
  const provider = runtime.providers({ path: parsed.ok ? parsed.target.path : '', headers: request.headers });
  if (!parsed.ok) {
    request.resume();
    sendLocalReply(response, provider, targetRefusal[parsed.problem]);
    return;
  }
  const { target } = parsed;
  if (isReserved(target.path)) {
    await answerReserved(request, response, target.path, provider, {
      health: runtime.health,
      metrics: runtime.metrics,
      page: runtime.page,
    });
    return;
  }

  const route = runtime.upstreams.route(provider.name);
  if (route === null) {
    request.resume();
    sendLocalReply(response, provider, {
      reason: 'no-upstream',
      message: `ratewarden has no upstream for ${provider.name} requests (it serves ${runtime.upstreams.describe()}); add ${provider.name}=URL to --upstream, or send the request to the proxy of that provider`,
      close: true,
    });
    return;
  }

  const read = await readRequestBody(request, limits.maxBodyBytes);
  if (read.kind === 'aborted') return;
  if (read.kind === 'too-large') {
    sendLocalReply(response, provider, {
      reason: 'body-too-large',
      message: `the request body is larger than ${sizeText(read.limit)} (--max-body); send a smaller request, or raise --max-body`,
      close: true,
    });
    return;
  }

  const method = request.method ?? 'GET';
  if (!isApiCall(method, target.path)) {
    const upstreamPath = upstreamPathFor(route.url, target);
    await forward(
      route.forwardSetup,
      { request, response, body: read.body, bodyLength: read.length, upstreamPath, provider },
      unrecordedExchange,
    );
    return;
  }
  await serveApiCall(runtime, { request, response, provider, route, target, body: read }, timing);
}

/** An API call: shaped and charged, admitted (or answered locally), forwarded, recorded. */
async function serveApiCall(runtime: ProxyRuntime, call: ApiCall, timing: RequestTiming): Promise<void> {
  const { warden, limits } = runtime;
  const { request, response, provider, route, target, body: read } = call;
  const method = request.method ?? 'GET';
  const shape = provider.shape(target.path, read.body);
  const requestScope = runtime.scopeOf(request.headers, shape.model, provider.name);
  const { scope, keyScope, fingerprint } = requestScope;
  const session = sessionOf(request.headers, fingerprint, request.socket);
  // The prompt cache is per conversation: only a client's own session id names one.
  const conversation = conversationOf(request.headers);
  const charge = requestCharge(
    provider.name,
    shape,
    warden.learnedOutputs.of(shape.model),
    runtime.recorderSetup.cachedShares.expected(scope, conversation, shape.inputTokens),
    limits,
  );
  const admitInput: AdmitInput = {
    method,
    path: target.path,
    estimate: charge.window,
    reportedOutput: charge.reportedOutput,
    model: shape.model,
    scope,
    keyScope,
    session,
    priority: priorityOf(request.headers),
  };
  const forwardInput = {
    request,
    response,
    body: read.body,
    bodyLength: read.length,
    upstreamPath: upstreamPathFor(route.url, target),
    provider,
  };
  const { afterMs: holdMs, resends } = limits.unsafeRetry429;
  const clientGone = clientGoneSignal(request, response);
  for (let held = 0; ; held++) {
    const queuedAt = performance.now();
    const requestId = await admitOrAnswer(runtime, provider, admitInput, response, clientGone);
    timing.waited(performance.now() - queuedAt);
    if (requestId === null) return;
    if (response.destroyed || request.socket.destroyed) {
      // The client left while its admission was decided (on a server, round trips long): nobody
      // would read the answer, so nothing is forwarded and the reservation is released.
      await warden.giveBack(requestId);
      return;
    }
    const exchange = { method, path: target.path, provider, scope, session: conversation, estimatedInput: shape.inputTokens };
    const recorder = attemptRecorder(runtime, requestId, exchange, requestScope);
    timing.forwarding();
    runtime.metrics.forwarded(provider.name, scope);
    const result = await forward(route.forwardSetup, { ...forwardInput, hold429: holdMs > 0 && held < resends }, recorder);
    if (result === 'relayed') return;
    // UNSAFE, the seed's retry: the same fixed wait whatever the upstream's Retry-After said.
    if (!(await sleep(holdMs, true, { signal: clientGone() }).catch(() => false))) return;
  }
}

/**
 * The recorder of one admitted attempt: it records the answer as the warden's events, after
 * the key has joined its organization when the answer names one it may learn, and counts it in
 * the metrics.
 */
function attemptRecorder(runtime: ProxyRuntime, requestId: number, exchange: ExchangeRequest, key: RequestScope): ExchangeRecorder {
  const { provider, scope } = exchange;
  const { fingerprint, keyHint } = key;
  const recorded = exchangeRecorder(runtime.recorderSetup, requestId, exchange);
  const learning =
    !key.learnsOrganization || fingerprint === null
      ? recorded
      : learningOrganization(recorded, runtime.warden, { fingerprint, keyHint }, provider.name, runtime.log, runtime.clock);
  return runtime.metrics.observing(learning, provider.name, scope);
}

/** Admits the request (waiting in the fair queue for budget up to --max-wait), or answers it locally; the request's id, or null once answered. */
async function admitOrAnswer(
  runtime: ProxyRuntime,
  provider: ProviderAdapter,
  input: AdmitInput,
  response: ServerResponse,
  clientGone: ClientGone,
): Promise<number | null> {
  const { method, path } = input;
  const scope = input.scope ?? defaultScope;
  let admission: Admission | null;
  try {
    admission = await runtime.queue.admit(input, clientGone);
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    runtime.log.error('store-unavailable', `${method} ${path} answered 503: ${error.message}`);
    sendLocalReply(response, provider, {
      reason: 'store-unavailable',
      message: `ratewarden cannot record this request, so it does not forward it: ${error.message}`,
    });
    return null;
  }
  if (admission === null) return null;
  if (admission.kind === 'rejected' && runtime.stopping?.() === true) {
    // Waiting in the queue when the stop came (the queue was closed): the documented 503, not a budget 429.
    sendLocalReply(response, provider, { reason: 'stopping', message: 'ratewarden is stopping; retry in a moment', close: true });
    return null;
  }
  if (admission.kind === 'rejected') {
    await answerRefusal(runtime, provider, response, scope, admission);
    return null;
  }
  return admission.requestId;
}

/**
 * A local refusal, counted here and nowhere else (the queue counts none): in the log's summary,
 * the metrics and the durable totals the next tick adds to. Answered with its Retry-After and
 * the scope's budget fields.
 */
async function answerRefusal(
  runtime: ProxyRuntime,
  provider: ProviderAdapter,
  response: ServerResponse,
  scope: string,
  admission: Refusal,
): Promise<void> {
  const { warden } = runtime;
  runtime.refusals.count(admission.reason);
  runtime.metrics.refused(scope, admission.reason);
  warden.refusals.count(admission.reason, scope);
  const withUsage = admission.reason === 'budget';
  // The budget fields are a courtesy: a store that cannot be read now (the very case of a
  // held 429) still gets the refusal, only without them, never a 500.
  const shown =
    admission.shown !== undefined && (!withUsage || admission.shown.usage !== null)
      ? admission.shown
      : await warden.views.refusalView(scope, withUsage).catch((error: unknown) => {
          if (!(error instanceof StoreUnavailableError)) throw error;
          return { tokenBudget: null, requestBudget: null, usage: null };
        });
  sendLocalReply(response, provider, {
    reason: admission.reason,
    message: `ratewarden (scope ${scope}): ${admission.message}`,
    headers: {
      'x-ratewarden-scope': scope,
      ...refusalHeaders({
        reason: admission.reason,
        retryAfterMs: admission.retryAfterMs,
        windowMs: warden.policy.windowMs,
        tokenBudget: shown.tokenBudget,
        requestBudget: shown.requestBudget,
        usage: shown.usage,
      }),
    },
  });
}
