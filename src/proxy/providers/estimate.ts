import type { OutputRequest } from '../../core/outputEstimate.js';
import { readTopLevelFields, wantedFields } from './topLevelFields.js';
import type { ProviderName } from './types.js';

const OUTPUT_CAP_FIELDS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'] as const;
/** The only members of a request body admission reads; the rest is never built. */
const SHAPE_FIELDS = wantedFields([...OUTPUT_CAP_FIELDS, 'model']);

/*
 * Input tokens are estimated as one token per four body bytes. Tokenizers average roughly four
 * characters of English per token, and the body also carries JSON keys, quotes, escapes and
 * base64 that cost bytes but few tokens, so the guess errs high for typical requests: a
 * reservation that is too large is released at settle, one that is too small lets a burst
 * through before the real usage is known.
 */
const BYTES_PER_TOKEN = 4;

function declaredOutputCap(fields: Record<string, unknown> | undefined): number | undefined {
  for (const name of OUTPUT_CAP_FIELDS) {
    const value = fields?.[name];
    if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  }
  return undefined;
}

/** What admission needs to know of a request before it is forwarded. */
export interface RequestShape extends OutputRequest {
  inputTokens: number;
  /** The model it names, whose learned output estimate applies. */
  model: string | null;
}

/**
 * Endpoints that generate nothing: Anthropic's token counting (free of token limits, counted
 * only against its own request limit) and model listings.
 */
function generatesNothing(path: string): boolean {
  return /\/count_tokens$/.test(path) || /\/models(?:\/[^/]*)?$/.test(path);
}

export function shapeRequest(provider: ProviderName, path: string, body: Buffer): RequestShape {
  if (body.length === 0) return { inputTokens: 0, model: null, generates: false, declaredMaxTokens: null };
  const fields = readTopLevelFields(body, SHAPE_FIELDS);
  const declared = declaredOutputCap(fields) ?? null;
  const model = typeof fields?.model === 'string' && fields.model.length <= 200 ? fields.model : null;
  if (generatesNothing(path))
    return {
      inputTokens: /\/count_tokens$/.test(path) ? 0 : Math.ceil(body.length / BYTES_PER_TOKEN),
      model,
      generates: false,
      declaredMaxTokens: null,
    };
  // A generic API has no token usage to settle against, so an output guess would stay spent forever.
  const generates = provider !== 'generic' || declared !== null;
  return { inputTokens: Math.ceil(body.length / BYTES_PER_TOKEN), model, generates, declaredMaxTokens: declared };
}
