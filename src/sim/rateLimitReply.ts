import type { ProviderName } from '../proxy/providers/types.js';
import { anthropicError } from './anthropicReplies.js';
import { retryAfterHeaders } from './limitHeaders.js';
import { openAiError } from './openaiReplies.js';
import { rateLimitHeadersFor, sendJson, type ReplyContext } from './replyContext.js';

// A 429 forced by a test mode while the window has room still needs a plausible wait.
const FORCED_RETRY_AFTER_MS = 1000;

function body(provider: ProviderName, message: string, byRequests: boolean): object {
  if (provider === 'anthropic') return anthropicError('rate_limit_error', message);
  if (provider === 'openai') return openAiError(byRequests ? 'requests' : 'tokens', message, 'rate_limit_exceeded');
  return { error: { type: 'rate_limit', message } };
}

export function sendRateLimited(context: ReplyContext, provider: ProviderName): void {
  const { ledger, settings } = context;
  const at = context.now();
  const used = ledger.usage(at);
  const byRequests =
    ledger.refusedByRequests(at, context.need) || (settings.requestLimit !== undefined && used.requests >= settings.requestLimit);
  const per = settings.shape === 'token-bucket' ? `a bucket refilled over ${settings.windowMs} ms` : `the last ${settings.windowMs} ms`;
  const message = byRequests
    ? `Simulated rate limit: ${Math.round(used.requests)} of ${settings.requestLimit} requests used in ${per}.`
    : `Simulated rate limit: this request needs ${context.need.tokens} tokens; ${Math.round(used.tokens)} of ${settings.tokenLimit} are used in ${per}.`;
  const retryAfterMs = ledger.msUntilRoom(at, context.need) || FORCED_RETRY_AFTER_MS;
  ledger.countRateLimited(at, retryAfterMs);
  const retryAfter = settings.retryAfterMode === 'until-room' ? retryAfterHeaders(retryAfterMs) : {};
  sendJson(context, 429, { ...rateLimitHeadersFor(context, provider), ...retryAfter }, body(provider, message, byRequests));
}
