import { fullText, type Generation, type SseStep } from './generation.js';

function usage(generation: Generation, outputTokens: number): Record<string, number> {
  return {
    input_tokens: generation.inputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: outputTokens,
  };
}

function stopReason(generation: Generation): string {
  return generation.hitMaxTokens ? 'max_tokens' : 'end_turn';
}

export function anthropicMessage(generation: Generation): object {
  return {
    id: generation.id,
    type: 'message',
    role: 'assistant',
    model: generation.model,
    content: [{ type: 'text', text: fullText(generation) }],
    stop_reason: stopReason(generation),
    stop_sequence: null,
    usage: usage(generation, generation.outputTokens),
  };
}

function step(type: string, payload: object, outputTokens = 0): SseStep {
  return { event: type, data: JSON.stringify({ type, ...payload }), outputTokens };
}

/** The Messages API stream: the same event sequence and shapes the real API sends. */
export function anthropicEvents(generation: Generation): SseStep[] {
  // The real API reports a token or so of output in message_start, before any text exists.
  const startOutput = Math.min(1, generation.outputTokens);
  const message = {
    id: generation.id,
    type: 'message',
    role: 'assistant',
    model: generation.model,
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: usage(generation, startOutput),
  };
  return [
    step('message_start', { message }),
    step('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    step('ping', {}),
    ...generation.pieces.map((piece) =>
      step('content_block_delta', { index: 0, delta: { type: 'text_delta', text: piece.text } }, piece.tokens),
    ),
    step('content_block_stop', { index: 0 }),
    step('message_delta', {
      delta: { stop_reason: stopReason(generation), stop_sequence: null },
      usage: { output_tokens: generation.outputTokens },
    }),
    step('message_stop', {}),
  ];
}

export type AnthropicErrorType = 'rate_limit_error' | 'invalid_request_error' | 'api_error';

export function anthropicError(type: AnthropicErrorType, message: string): object {
  return { type: 'error', error: { type, message } };
}
