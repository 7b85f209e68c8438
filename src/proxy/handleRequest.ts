import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { outputReservation } from '../core/outputEstimate.js';
import { defaultScope } from '../core/scopes.js';
import { StoreUnavailableError } from '../store/unavailable.js';
import type { Clock } from '../kernel/clock.js';
import type { Admission, AdmitInput } from '../warden/types.js';
import type { Warden } from '../warden/warden.js';
import type { AdmissionQueue } from './admissionQueue.js';
import { forward, type ForwardSetup } from './forward.js';
import { sendLocalReply, type LocalReply } from './localReplies.js';
import type { Logger } from '../kernel/log.js';
import type { ProxyMetrics } from './metrics.js';
import type { ProviderAdapter, ProviderChooser } from './providers/adapter.js';
import { refusalHeaders } from './rateLimitFields.js';
import { exchangeRecorder, type RecorderSetup } from './recorder.js';
import type { RefusalCounter } from './refusalCounter.js';
import { readRequestBody } from './requestBody.js';
import type { RequestScope } from './scopeOf.js';
import { priorityOf, sessionOf } from './sessionOf.js';
import { learningOrganization } from './organizationLearner.js';
import type { ProviderName } from './providers/types.js';
import type { HealthReport } from './health.js';
import { answerReserved } from './reserved.js';
import { isReserved, parseTarget, upstreamPathFor, type TargetProblem } from './target.js';

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
  upstream: URL;
  /** Chooses each request's provider adapter once, from its shape (and `--provider`). */
  providers: ProviderChooser;
  /** Names the scope a request counts against (its limit group), from its key, its model and its provider. */
  scopeOf: (headers: IncomingMessage['headers'], model: string | null, provider?: ProviderName) => RequestScope;
  warden: Warden;
  queue: AdmissionQueue;
  clock: Clock;
  log: Logger;
  limits: RequestLimits;
  forwardSetup: ForwardSetup;
  recorderSetup: RecorderSetup;
  refusals: RefusalCounter;
  health: () => Promise<HealthReport>;
  metrics: ProxyMetrics;
}

const targetRefusal: Record<TargetProblem, LocalReply> = {
  unsupported: { reason: 'unsupported-target', message: 'ratewarden forwards only requests for a path, such as POST /v1/messages' },
  'climbs-out': { reason: 'path-climbs-out', message: 'the request path climbs above its root with ".." segments; send the path without them' },
};

const neverAborted = new AbortController().signal;

/** Aborts when the client goes away before its answer is complete; only a request that may wait needs one. */
function clientGoneSignal(response: ServerResponse, mayWait: boolean): AbortSignal {
  if (!mayWait) return neverAborted;
  const controller = new AbortController();
  response.once('close', () => {
    if (!response.writableFinished) controller.abort();
  });
  return controller.signal;
}

function sizeText(bytes: number): string {
  return bytes >= 1_048_576 ? `${Number((bytes / 1_048_576).toFixed(1))} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

/** The request lifecycle of DESIGN.md: read, admit (or refuse locally), forward, settle. */
export async function handleRequest(runtime: ProxyRuntime, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const { warden, limits } = runtime;
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
    await answerReserved(request, response, target.path, provider, { health: runtime.health, metrics: runtime.metrics });
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
  const shape = provider.shape(target.path, read.body);
  const outputTokens = outputReservation(shape, warden.learnedOutput(shape.model), limits);
  const { scope, keyScope, fingerprint, learnsOrganization, keyHint } = runtime.scopeOf(request.headers, shape.model, provider.name);
  const session = sessionOf(request.headers, fingerprint, request.socket);
  const admitInput: AdmitInput = { method, path: target.path, estimate: { inputTokens: shape.inputTokens, outputTokens }, model: shape.model, scope, keyScope, session, priority: priorityOf(request.headers) };
  const forwardInput = { request, response, body: read.body, bodyLength: read.length, upstreamPath: upstreamPathFor(runtime.upstream, target), provider };
  const { afterMs: holdMs, resends } = limits.unsafeRetry429;
  const clientGone = clientGoneSignal(response, limits.maxWaitMs > 0 || holdMs > 0);
  for (let held = 0; ; held++) {
    const queuedAt = performance.now();
    const requestId = await admitOrAnswer(runtime, provider, admitInput, response, clientGone);
    timing.waited(performance.now() - queuedAt);
    if (requestId === null) return;
    if (response.destroyed || request.socket.destroyed) {
      // The client left while its admission was decided (on a server, round trips long): nobody
      // would read the answer, so nothing is forwarded and the reservation is released.
      await runtime.warden.settle(requestId, { outcome: 'aborted', status: null, usage: { inputTokens: 0, outputTokens: 0 } }).catch(() => undefined);
      return;
    }
    const recorded = exchangeRecorder(runtime.recorderSetup, requestId, { method, path: target.path, provider });
    const learning = !learnsOrganization || fingerprint === null ? recorded : learningOrganization(recorded, warden, { fingerprint, keyHint }, provider.name, runtime.log);
    const recorder = runtime.metrics.observing(learning, provider.name);
    timing.forwarding();
    runtime.metrics.forwarded(provider.name);
    const result = await forward(runtime.forwardSetup, { ...forwardInput, hold429: holdMs > 0 && held < resends }, recorder);
    if (result === 'relayed') return;
    // UNSAFE, the seed's retry: the same fixed wait whatever the upstream's Retry-After said.
    if (!(await sleep(holdMs, true, { signal: clientGone }).catch(() => false))) return;
  }
}

/** Admits the request (waiting in the fair queue for budget up to --max-wait), or answers it locally; the request's id, or null once answered. */
async function admitOrAnswer(runtime: ProxyRuntime, provider: ProviderAdapter, input: AdmitInput, response: ServerResponse, clientGone: AbortSignal): Promise<number | null> {
  const { warden } = runtime;
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
  if (admission.kind === 'rejected') {
    runtime.refusals.count(admission.reason);
    // The budget fields are a courtesy: a store that cannot be read now (the very case of a
    // held 429) still gets the refusal, only without them, never a 500.
    const { state, usage } = await warden.refusalView(scope, admission.reason === 'budget').catch((error: unknown) => {
      if (!(error instanceof StoreUnavailableError)) throw error;
      return { state: null, usage: null };
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
          tokenBudget: state?.tokenBudget ?? null,
          requestBudget: state?.requestBudget ?? null,
          usage,
        }),
      },
    });
    return null;
  }
  return admission.requestId;
}
