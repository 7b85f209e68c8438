/**
 * Whether a 429's body says the quota or the money ran out, not a rate limit (core/quota.ts):
 * - OpenAI: `error.type` or `error.code` `insufficient_quota`, or a billing code
 *   (`credit_balance_exhausted`, `organization_usage_limit_exceeded`,
 *   `organization_spend_limit_exceeded`, `project_spend_limit_exceeded`) — help.openai.com,
 *   "Troubleshooting API rate limits and 429 errors".
 * - Anthropic: `error.details.error_code` `enforced_spend_limit_reached` (a 429 `rate_limit_error`
 *   without retry-after: the monthly spend cap), or a message saying the specified API usage
 *   limits were reached — platform.claude.com, "Errors".
 * Returns the upstream's own words (its message, or the code), or null for a rate limit.
 */
const quotaCodes = new Set([
  'insufficient_quota',
  'credit_balance_exhausted',
  'organization_usage_limit_exceeded',
  'organization_spend_limit_exceeded',
  'project_spend_limit_exceeded',
  'enforced_spend_limit_reached',
]);

/** Large enough for any error body; a 429 body is read whole before it is relayed. */
export const quotaBodyLimit = 16_384;

function textField(value: unknown, name: string): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const field = (value as Record<string, unknown>)[name];
  return typeof field === 'string' ? field : null;
}

export function quotaExhaustion(body: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  const error = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>).error : null;
  if (typeof error !== 'object' || error === null) return null;
  const details = (error as Record<string, unknown>).details;
  const codes = [textField(error, 'type'), textField(error, 'code'), textField(details, 'error_code')];
  const code = codes.find((candidate) => candidate !== null && quotaCodes.has(candidate));
  const message = textField(error, 'message');
  if (code !== undefined && code !== null) return message ?? code;
  if (message !== null && /you have reached your specified (workspace )?api usage limits/i.test(message)) return message;
  return null;
}
