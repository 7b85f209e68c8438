import { asRecord, CountReader, parseJson } from './jsonFields.js';
import { unreadableUsage, type TokenUsage } from './types.js';
import type { UsageReader } from './usageReader.js';

/** Chat completions say prompt/completion tokens; the Responses API says input/output tokens. */
function usageFrom(counts: CountReader, value: unknown): TokenUsage | null {
  const usage = counts.record(value);
  const prompt = counts.count(usage, 'prompt_tokens');
  const completion = counts.count(usage, 'completion_tokens');
  if (prompt !== undefined) return { inputTokens: prompt, outputTokens: completion ?? 0 };
  const input = counts.count(usage, 'input_tokens');
  const output = counts.count(usage, 'output_tokens');
  if (input !== undefined) return { inputTokens: input, outputTokens: output ?? 0 };
  return null;
}

/*
 * In a stream, usage arrives once: in the final chat chunk (when the request set
 * `stream_options.include_usage`) or in the Responses API's terminal event
 * (`response.completed`, or `response.incomplete` / `response.failed`), whose `response`
 * carries the same `usage` as the non-streaming body. `data: [DONE]` closes the stream.
 */
export function createOpenAiUsageReader(): UsageReader {
  let found: TokenUsage | null = null;
  let done = false;
  const counts = new CountReader();

  return {
    readBody(body) {
      found = usageFrom(counts, asRecord(body)?.usage) ?? found;
    },
    readEvent({ data }) {
      if (done) return;
      if (data.trim() === '[DONE]') {
        done = true;
        return;
      }
      // Most chunks carry no usage: without `usage` and without an escape that could spell it, there is none to read.
      if (!data.includes('usage') && !data.includes('\\')) return;
      const payload = asRecord(parseJson(data));
      const terminalResponse = asRecord(payload?.response);
      found = usageFrom(counts, payload?.usage ?? terminalResponse?.usage) ?? found;
    },
    usage() {
      return counts.invalid ? unreadableUsage : found;
    },
  };
}
