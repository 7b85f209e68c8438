import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CacheUsage } from './promptCache.js';

/**
 * One answer of the simulated Anthropic upstream, streamed as the Messages API streams
 * (message_start with the input usage, content deltas at the model's pace, message_delta with
 * the cumulative usage, message_stop) or sent whole once generated. Four characters per token,
 * so the simulated tokenizer counts the text back as the same number of tokens.
 */
export interface AnswerPlan {
  id: string;
  model: string;
  usage: CacheUsage;
  /** How many tokens the answer has (already cut to max_tokens). */
  outputTokens: number;
  hitMaxTokens: boolean;
  /** Wall-clock ms before the first token (already scaled). */
  firstTokenMs: number;
  /** Tokens per wall-clock second (already scaled). */
  tokensPerSecond: number;
}

const WORDS = ['the', 'cat', 'ran', 'far', 'and', 'sat', 'on', 'mat'];
const TICK_MS = 50;

function text(from: number, count: number): string {
  let out = '';
  for (let index = from; index < from + count; index++) out += `${(WORDS[index % WORDS.length] ?? 'the').padEnd(3, 'x')} `;
  return out;
}

function usageJson(plan: AnswerPlan, outputTokens: number): Record<string, unknown> {
  return {
    input_tokens: plan.usage.inputTokens,
    cache_creation_input_tokens: plan.usage.cacheCreationInputTokens,
    cache_read_input_tokens: plan.usage.cacheReadInputTokens,
    output_tokens: outputTokens,
  };
}

function stopReason(plan: AnswerPlan): string {
  return plan.hitMaxTokens ? 'max_tokens' : 'end_turn';
}

function event(response: ServerResponse, type: string, payload: object): void {
  response.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`);
}

/** Streams the answer; resolves with the output tokens the client received (fewer if it left). */
export async function streamAnswer(response: ServerResponse, plan: AnswerPlan, signal: AbortSignal): Promise<number> {
  const message = {
    id: plan.id,
    type: 'message',
    role: 'assistant',
    model: plan.model,
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: {
      ...usageJson(plan, Math.min(1, plan.outputTokens)),
      cache_creation: { ephemeral_5m_input_tokens: plan.usage.cacheCreationInputTokens, ephemeral_1h_input_tokens: 0 },
      service_tier: 'standard',
    },
  };
  event(response, 'message_start', { message });
  event(response, 'content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  event(response, 'ping', {});
  if (!(await sleep(plan.firstTokenMs, true, { signal }).catch(() => false))) return 0;
  let sent = 0;
  const startedAt = Date.now();
  while (sent < plan.outputTokens) {
    const due = Math.min(
      plan.outputTokens,
      Math.max(sent + 1, Math.floor(((Date.now() - startedAt + TICK_MS) * plan.tokensPerSecond) / 1000)),
    );
    event(response, 'content_block_delta', { index: 0, delta: { type: 'text_delta', text: text(sent, due - sent) } });
    sent = due;
    if (sent < plan.outputTokens && !(await sleep(TICK_MS, true, { signal }).catch(() => false))) return sent;
  }
  event(response, 'content_block_stop', { index: 0 });
  event(response, 'message_delta', {
    delta: { stop_reason: stopReason(plan), stop_sequence: null },
    usage: usageJson(plan, plan.outputTokens),
  });
  event(response, 'message_stop', {});
  response.end();
  return plan.outputTokens;
}

/** A non-streaming answer: the whole message once it is generated. */
export async function wholeAnswer(plan: AnswerPlan, signal: AbortSignal): Promise<object | null> {
  const generationMs = plan.firstTokenMs + (plan.outputTokens * 1000) / plan.tokensPerSecond;
  if (!(await sleep(generationMs, true, { signal }).catch(() => false))) return null;
  return {
    id: plan.id,
    type: 'message',
    role: 'assistant',
    model: plan.model,
    content: [{ type: 'text', text: text(0, plan.outputTokens) }],
    stop_reason: stopReason(plan),
    stop_sequence: null,
    usage: { ...usageJson(plan, plan.outputTokens), service_tier: 'standard' },
  };
}
