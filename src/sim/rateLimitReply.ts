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
  ledger.countRateLimited();
  const used = ledger.usage(at);
  const byRequests = settings.requestLimit !== undefined && used.requests >= settings.requestLimit;
  const message = byRequests
    ? `Simulated rate limit: ${used.requests} of ${settings.requestLimit} requests used in the last ${settings.windowMs} ms.`
    : `Simulated rate limit: ${used.tokens} of ${settings.tokenLimit} tokens used in the last ${settings.windowMs} ms.`;
  const retryAfter =
    settings.retryAfterMode === 'until-room' ? retryAfterHeaders(ledger.msUntilRoom(at) || FORCED_RETRY_AFTER_MS) : {};
  sendJson(context, 429, { ...rateLimitHeadersFor(context, provider), ...retryAfter }, body(provider, message, byRequests));
}
