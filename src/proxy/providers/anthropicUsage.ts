import { asRecord, CountReader, parseJson } from './jsonFields.js';
import { unreadableUsage, type UsageReading } from './types.js';
import type { UsageReader } from './usageReader.js';

interface InputParts {
  uncached: number;
  cacheCreation: number;
  cacheRead: number;
}

/*
 * Every input token is input here (`input_tokens`, the cache writes and the cache reads), and the
 * cache parts are also given apart: what the rate limits count of them is the provider's rule
 * (core/chargeRules.ts: Anthropic's ITPM counts cache writes, never cache reads), and the cached
 * share teaches the next estimate (core/cachedShare.ts). A part is given when it is above zero.
 * Every count in `message_delta` is cumulative: a later value replaces an earlier one, and a
 * part the delta leaves out (or sends as null) keeps its previous value.
 */
export function createAnthropicUsageReader(): UsageReader {
  let seen = false;
  const input: InputParts = { uncached: 0, cacheCreation: 0, cacheRead: 0 };
  let outputTokens = 0;
  const counts = new CountReader();

  function absorb(value: unknown): void {
    const usage = counts.record(value);
    if (usage === undefined) return;
    seen = true;
    input.uncached = counts.count(usage, 'input_tokens') ?? input.uncached;
    input.cacheCreation = counts.count(usage, 'cache_creation_input_tokens') ?? input.cacheCreation;
    input.cacheRead = counts.count(usage, 'cache_read_input_tokens') ?? input.cacheRead;
    outputTokens = counts.count(usage, 'output_tokens') ?? outputTokens;
  }

  return {
    readBody(body) {
      absorb(asRecord(body)?.usage);
    },
    readEvent({ data }) {
      // Most events are content deltas: without `message_` and without an escape that could spell it, the type is neither.
      if (!data.includes('message_') && !data.includes('\\')) return;
      const payload = asRecord(parseJson(data));
      if (payload?.type === 'message_start') absorb(asRecord(payload.message)?.usage);
      else if (payload?.type === 'message_delta') absorb(payload.usage);
    },
    usage(): UsageReading {
      if (counts.invalid) return unreadableUsage;
      if (!seen) return null;
      return {
        inputTokens: input.uncached + input.cacheCreation + input.cacheRead,
        outputTokens,
        ...(input.cacheCreation > 0 ? { cacheCreationInputTokens: input.cacheCreation } : {}),
        ...(input.cacheRead > 0 ? { cacheReadInputTokens: input.cacheRead } : {}),
      };
    },
  };
}
