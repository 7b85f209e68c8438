import { asRecord, parseJson } from './jsonFields.js';
import type { ProviderName, RequestEstimate } from './types.js';

const OUTPUT_CAP_FIELDS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'] as const;

/*
 * Input tokens are estimated as one token per four body bytes. Tokenizers average roughly four
 * characters of English per token, and the body also carries JSON keys, quotes, escapes and
 * base64 that cost bytes but few tokens, so the guess errs high for typical requests: a
 * reservation that is too large is released at settle, one that is too small lets a burst
 * through before the real usage is known.
 */
const BYTES_PER_TOKEN = 4;

function declaredOutputCap(body: unknown): number | undefined {
  const fields = asRecord(body);
  for (const name of OUTPUT_CAP_FIELDS) {
    const value = fields?.[name];
    if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  }
  return undefined;
}

export function estimateRequest(provider: ProviderName, body: Buffer, defaultMaxTokens: number): RequestEstimate {
  const inputTokens = Math.ceil(body.length / BYTES_PER_TOKEN);
  const declared = body.length > 0 ? declaredOutputCap(parseJson(body.toString('utf8'))) : undefined;
  if (declared !== undefined) return { inputTokens, outputTokens: declared };
  // A generic API has no token usage to settle against, so an output guess would stay spent forever.
  return { inputTokens, outputTokens: provider === 'generic' ? 0 : defaultMaxTokens };
}
