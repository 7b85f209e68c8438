import type { PromptBlock } from './promptCache.js';

/** What the simulated Anthropic upstream reads from a Messages API request body. */
export interface MessagesRequest {
  model: string;
  maxTokens: number;
  stream: boolean;
  /** tools, system, messages: the prompt in the order the cache sees it. */
  blocks: PromptBlock[];
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

function withoutCacheControl(block: Json): Json {
  const { cache_control: _ignored, ...rest } = block;
  return rest;
}

function blockOf(value: unknown): PromptBlock {
  if (typeof value === 'string') return { text: value, cacheControl: false };
  if (!isObject(value)) return { text: JSON.stringify(value), cacheControl: false };
  const text = value.type === 'text' && typeof value.text === 'string' ? value.text : JSON.stringify(withoutCacheControl(value));
  return { text, cacheControl: value.cache_control !== undefined && value.cache_control !== null };
}

function contentBlocks(content: unknown): PromptBlock[] {
  if (Array.isArray(content)) return content.map(blockOf);
  return [blockOf(content ?? '')];
}

export type ParsedRequest = { ok: true; request: MessagesRequest } | { ok: false; message: string };

/** Parses a body the way the API validates it, as far as the simulation needs. */
export function parseMessagesRequest(body: Buffer): ParsedRequest {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, message: 'The request body is not valid JSON.' };
  }
  if (!isObject(value)) return { ok: false, message: 'The request body must be a JSON object.' };
  if (typeof value.model !== 'string') return { ok: false, message: 'model: Field required' };
  if (typeof value.max_tokens !== 'number' || !Number.isInteger(value.max_tokens) || value.max_tokens < 1)
    return { ok: false, message: 'max_tokens: Field required' };
  if (!Array.isArray(value.messages)) return { ok: false, message: 'messages: Field required' };
  const tools = Array.isArray(value.tools) ? value.tools.map(blockOf) : [];
  const system = value.system === undefined ? [] : contentBlocks(value.system);
  const messages = value.messages.flatMap((message: unknown) => (isObject(message) ? contentBlocks(message.content) : []));
  return {
    ok: true,
    request: { model: value.model, maxTokens: value.max_tokens, stream: value.stream === true, blocks: [...tools, ...system, ...messages] },
  };
}
