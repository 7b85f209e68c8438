import { asRecord, parseJson, readCount } from './jsonFields.js';
import type { TokenUsage } from './types.js';
import type { UsageReader } from './usageReader.js';

/** Chat completions say prompt/completion tokens; the Responses API says input/output tokens. */
function usageFrom(usage: Record<string, unknown> | undefined): TokenUsage | null {
  const prompt = readCount(usage, 'prompt_tokens');
  if (prompt !== undefined) return { inputTokens: prompt, outputTokens: readCount(usage, 'completion_tokens') ?? 0 };
  const input = readCount(usage, 'input_tokens');
  if (input !== undefined) return { inputTokens: input, outputTokens: readCount(usage, 'output_tokens') ?? 0 };
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

  return {
    readBody(body) {
      const fields = asRecord(body);
      found = usageFrom(asRecord(fields?.usage)) ?? found;
    },
    readEvent({ data }) {
      if (done) return;
      if (data.trim() === '[DONE]') {
        done = true;
        return;
      }
      const payload = asRecord(parseJson(data));
      const terminalResponse = asRecord(payload?.response);
      const usage = asRecord(payload?.usage) ?? asRecord(terminalResponse?.usage);
      found = usageFrom(usage) ?? found;
    },
    usage() {
      return found;
    },
  };
}
