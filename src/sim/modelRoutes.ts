import { setTimeout as sleep } from 'node:timers/promises';
import { asRecord, parseJson } from '../proxy/providers/jsonFields.js';
import type { ProviderName } from '../proxy/providers/types.js';
import { anthropicError, anthropicEvents, anthropicMessage } from './anthropicReplies.js';
import { planGeneration, type Generation, type SseStep } from './generation.js';
import { chatCompletion, chatCompletionEvents, openAiError, response, responseEvents } from './openaiReplies.js';
import { negotiateCompression, openReplyBody } from './replyBody.js';
import { inputTokensOf, rateLimitHeadersFor, sendJson, type ReplyContext } from './replyContext.js';

export type ModelApi = 'anthropic-messages' | 'openai-chat' | 'openai-responses';

interface ApiShape {
  provider: ProviderName;
  idPrefix: string;
  json(generation: Generation): object;
  events(generation: Generation, request: Record<string, unknown>): SseStep[];
  invalidRequest(message: string): object;
}

const SHAPES: Record<ModelApi, ApiShape> = {
  'anthropic-messages': {
    provider: 'anthropic',
    idPrefix: 'msg_sim_',
    json: anthropicMessage,
    events: anthropicEvents,
    invalidRequest: (message) => anthropicError('invalid_request_error', message),
  },
  'openai-chat': {
    provider: 'openai',
    idPrefix: 'chatcmpl-sim-',
    json: chatCompletion,
    events: (generation, request) => chatCompletionEvents(generation, asRecord(request.stream_options)?.include_usage === true),
    invalidRequest: (message) => openAiError('invalid_request_error', message, null),
  },
  'openai-responses': {
    provider: 'openai',
    idPrefix: 'resp_sim_',
    json: response,
    events: responseEvents,
    invalidRequest: (message) => openAiError('invalid_request_error', message, null),
  },
};

export function providerOf(api: ModelApi): ProviderName {
  return SHAPES[api].provider;
}

function maxTokensOf(request: Record<string, unknown>): number | undefined {
  for (const name of ['max_tokens', 'max_completion_tokens', 'max_output_tokens']) {
    const value = request[name];
    if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  }
  return undefined;
}

function formatEvent(step: SseStep): string {
  return `${step.event === undefined ? '' : `event: ${step.event}\n`}data: ${step.data}\n\n`;
}

/** What a request may generate: its `max_tokens`, or the simulated answer's natural length. */
export function outputReservationOf(body: Buffer, settings: Pick<ReplyContext['settings'], 'outputTokens'>): number {
  const request = asRecord(parseJson(body.toString('utf8')));
  return (request === undefined ? undefined : maxTokensOf(request)) ?? settings.outputTokens;
}

async function stream(
  context: ReplyContext,
  shape: ApiShape,
  generation: Generation,
  request: Record<string, unknown>,
  reserved: number,
): Promise<void> {
  let generated = 0;
  try {
    await streamSteps(context, shape, generation, request, (tokens) => (generated += tokens));
  } finally {
    // A stream cut short gives back all it did not generate.
    context.ledger.release(context.now(), reserved - generated);
  }
}

async function streamSteps(
  context: ReplyContext,
  shape: ApiShape,
  generation: Generation,
  request: Record<string, unknown>,
  onGenerated: (tokens: number) => void,
): Promise<void> {
  const { response: reply, settings, ledger, signal } = context;
  const headers = {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    ...rateLimitHeadersFor(context, shape.provider),
  };
  const body = openReplyBody(reply, 200, headers, negotiateCompression(context.request, settings.compress));
  const steps = shape.events(generation, request);
  for (const [index, step] of steps.entries()) {
    if (signal.aborted) return;
    // Counted as generated: a window charges it now; a bucket reserved it at arrival.
    if (step.outputTokens > 0) {
      ledger.generate(context.now(), step.outputTokens);
      onGenerated(step.outputTokens);
    }
    body.write(formatEvent(step));
    await body.flush();
    if (settings.streamDelayMs > 0 && index + 1 < steps.length) {
      await sleep(settings.streamDelayMs, undefined, { signal }).catch(() => undefined);
    }
  }
  body.end();
}

export async function answerModelRequest(context: ReplyContext, api: ModelApi): Promise<void> {
  const shape = SHAPES[api];
  const request = asRecord(parseJson(context.body.toString('utf8')));
  if (request === undefined) {
    sendJson(context, 400, {}, shape.invalidRequest('The request body is not a JSON object.'));
    return;
  }
  const inputTokens = inputTokensOf(context.body);
  const reserved = maxTokensOf(request) ?? context.settings.outputTokens;
  context.ledger.admit(context.arrivedAt, inputTokens, reserved);
  const generation = planGeneration({
    id: `${shape.idPrefix}${context.nextId()}`,
    model: typeof request.model === 'string' ? request.model : 'sim-model',
    createdAtMs: context.now(),
    inputTokens,
    naturalTokens: context.settings.outputTokens,
    maxTokens: maxTokensOf(request),
    pieces: context.settings.streamChunks,
  });
  if (request.stream === true) return stream(context, shape, generation, request, reserved);
  context.ledger.generate(context.now(), generation.outputTokens);
  context.ledger.release(context.now(), reserved - generation.outputTokens);
  sendJson(context, 200, rateLimitHeadersFor(context, shape.provider), shape.json(generation));
}
