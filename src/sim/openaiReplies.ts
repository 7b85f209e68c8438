import { fullText, type Generation, type SseStep } from './generation.js';

function finishReason(generation: Generation): string {
  return generation.hitMaxTokens ? 'length' : 'stop';
}

function chatUsage(generation: Generation): object {
  return {
    prompt_tokens: generation.inputTokens,
    completion_tokens: generation.outputTokens,
    total_tokens: generation.inputTokens + generation.outputTokens,
  };
}

function createdSeconds(generation: Generation): number {
  return Math.floor(generation.createdAtMs / 1000);
}

export function chatCompletion(generation: Generation): object {
  return {
    id: generation.id,
    object: 'chat.completion',
    created: createdSeconds(generation),
    model: generation.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: fullText(generation), refusal: null },
        logprobs: null,
        finish_reason: finishReason(generation),
      },
    ],
    usage: chatUsage(generation),
    system_fingerprint: null,
  };
}

/**
 * Chat chunks have no `event:` field. With `stream_options.include_usage` every chunk carries
 * `usage: null` and one extra chunk with empty `choices` carries the usage, before `[DONE]`.
 */
export function chatCompletionEvents(generation: Generation, includeUsage: boolean): SseStep[] {
  const chunk = (choices: object[], outputTokens = 0, usage: object | null = null): SseStep => ({
    event: undefined,
    data: JSON.stringify({
      id: generation.id,
      object: 'chat.completion.chunk',
      created: createdSeconds(generation),
      model: generation.model,
      system_fingerprint: null,
      choices,
      ...(includeUsage ? { usage } : {}),
    }),
    outputTokens,
  });
  const choice = (delta: object, finish: string | null = null): object => ({
    index: 0,
    delta,
    logprobs: null,
    finish_reason: finish,
  });
  return [
    chunk([choice({ role: 'assistant', content: '', refusal: null })]),
    ...generation.pieces.map((piece) => chunk([choice({ content: piece.text })], piece.tokens)),
    chunk([choice({}, finishReason(generation))]),
    ...(includeUsage ? [chunk([], 0, chatUsage(generation))] : []),
    { event: undefined, data: '[DONE]', outputTokens: 0 },
  ];
}

function responseUsage(generation: Generation): object {
  return {
    input_tokens: generation.inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: generation.outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: generation.inputTokens + generation.outputTokens,
  };
}

function outputItem(generation: Generation, status: 'in_progress' | 'completed'): object {
  const text = status === 'completed' ? [{ type: 'output_text', text: fullText(generation), annotations: [] }] : [];
  return { id: `${generation.id}_item`, type: 'message', status, role: 'assistant', content: text };
}

function responseObject(generation: Generation, status: 'in_progress' | 'completed' | 'incomplete'): object {
  const finished = status !== 'in_progress';
  return {
    id: generation.id,
    object: 'response',
    created_at: createdSeconds(generation),
    status,
    model: generation.model,
    output: finished ? [outputItem(generation, 'completed')] : [],
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    usage: finished ? responseUsage(generation) : null,
  };
}

function terminalStatus(generation: Generation): 'completed' | 'incomplete' {
  return generation.hitMaxTokens ? 'incomplete' : 'completed';
}

export function response(generation: Generation): object {
  return responseObject(generation, terminalStatus(generation));
}

/** The Responses API stream: named events with a `sequence_number`, ending in `response.completed`. */
export function responseEvents(generation: Generation): SseStep[] {
  let sequence = 0;
  const step = (type: string, payload: object, outputTokens = 0): SseStep => ({
    event: type,
    data: JSON.stringify({ type, sequence_number: sequence++, ...payload }),
    outputTokens,
  });
  const itemId = `${generation.id}_item`;
  const part = { item_id: itemId, output_index: 0, content_index: 0 };
  const terminal = terminalStatus(generation);
  return [
    step('response.created', { response: responseObject(generation, 'in_progress') }),
    step('response.in_progress', { response: responseObject(generation, 'in_progress') }),
    step('response.output_item.added', { output_index: 0, item: outputItem(generation, 'in_progress') }),
    step('response.content_part.added', { ...part, part: { type: 'output_text', text: '', annotations: [] } }),
    ...generation.pieces.map((piece) => step('response.output_text.delta', { ...part, delta: piece.text }, piece.tokens)),
    step('response.output_text.done', { ...part, text: fullText(generation) }),
    step('response.content_part.done', { ...part, part: { type: 'output_text', text: fullText(generation), annotations: [] } }),
    step('response.output_item.done', { output_index: 0, item: outputItem(generation, 'completed') }),
    step(`response.${terminal}`, { response: responseObject(generation, terminal) }),
  ];
}

export type OpenAiErrorType = 'tokens' | 'requests' | 'invalid_request_error' | 'server_error';

export function openAiError(type: OpenAiErrorType, message: string, code: string | null): object {
  return { error: { message, type, param: null, code } };
}
