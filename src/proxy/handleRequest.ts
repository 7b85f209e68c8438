import type { IncomingMessage, ServerResponse } from 'node:http';
import { outputReservation } from '../core/outputEstimate.js';
import { StoreUnavailableError } from '../warden/errors.js';
import type { Admission, Clock } from '../warden/types.js';
import type { Warden } from '../warden/warden.js';
import type { AdmissionQueue } from './admissionQueue.js';
import { forward, type ForwardSetup } from './forward.js';
import { sendLocalReply } from './localReplies.js';
import type { Logger } from './log.js';
import { shapeRequest } from './providers/estimate.js';
import type { ProviderName } from './providers/types.js';
import { refusalHeaders } from './rateLimitFields.js';
import { exchangeRecorder, type RecorderSetup } from './recorder.js';
import type { RefusalCounter } from './refusalCounter.js';
import { readRequestBody } from './requestBody.js';
import type { HealthReport } from './health.js';
import { answerReserved } from './reserved.js';
import { isReserved, parseTarget, upstreamPathFor } from './target.js';

export interface RequestLimits {
  maxBodyBytes: number;
  maxWaitMs: number;
  defaultMaxTokens: number;
  outputReserveMax: number | null;
}

/** Everything one request needs; built once by the server. */
export interface ProxyRuntime {
  upstream: URL;
  provider: ProviderName;
  warden: Warden;
  queue: AdmissionQueue;
  clock: Clock;
  log: Logger;
  limits: RequestLimits;
  forwardSetup: ForwardSetup;
  recorderSetup: RecorderSetup;
  refusals: RefusalCounter;
  health: () => HealthReport;
}

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
  const { provider, warden, limits } = runtime;
  const target = parseTarget(request.url);
  if (target === null) {
    request.resume();
    sendLocalReply(response, provider, { reason: 'unsupported-target', message: 'ratewarden forwards only requests for a path, such as POST /v1/messages' });
    return;
  }
  if (isReserved(target.path)) {
    answerReserved(request, response, target.path, provider, runtime.health);
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
  // A request without a body asks for no generation (a model list, a file download).
  const shape = shapeRequest(provider, target.path, read.body);
  const outputTokens = outputReservation(shape, warden.learnedOutput(shape.model), limits);
  const estimate = { inputTokens: shape.inputTokens, outputTokens };
  let admission: Admission | null;
  try {
    admission = await runtime.queue.admit({ method, path: target.path, estimate, model: shape.model }, clientGoneSignal(response, limits.maxWaitMs > 0));
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    runtime.log.error('store-unavailable', `${method} ${target.path} answered 503: ${error.message}`);
    sendLocalReply(response, provider, {
      reason: 'store-unavailable',
      message: `ratewarden cannot record this request, so it does not forward it: ${error.message}`,
    });
    return;
  }
  if (admission === null) return;
  if (admission.kind === 'rejected') {
    runtime.refusals.count(admission.reason);
    const state = warden.readState();
    sendLocalReply(response, provider, {
      reason: admission.reason,
      message: `ratewarden: ${admission.message}`,
      headers: refusalHeaders({
        reason: admission.reason,
        retryAfterMs: admission.retryAfterMs,
        windowMs: warden.policy.windowMs,
        tokenBudget: state.tokenBudget,
        requestBudget: state.requestBudget,
        usage: admission.reason === 'budget' ? warden.currentUsage() : null,
      }),
    });
    return;
  }

  const recorder = exchangeRecorder(runtime.recorderSetup, admission.requestId, { method, path: target.path });
  await forward(
    runtime.forwardSetup,
    { request, response, body: read.body, bodyLength: read.length, upstreamPath: upstreamPathFor(runtime.upstream, target) },
    recorder,
  );
}
