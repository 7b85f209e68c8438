import { setTimeout as sleep } from 'node:timers/promises';
import { inputTokensOf, sendJson, type ReplyContext } from './replyContext.js';

/** Answers with what arrived, so proxy tests can check exactly what was forwarded. */
export function answerEcho(context: ReplyContext): void {
  context.ledger.admit(context.arrivedAt, inputTokensOf(context.body));
  sendJson(
    context,
    200,
    {},
    {
      method: context.request.method,
      path: context.url.pathname,
      query: Object.fromEntries(context.url.searchParams),
      headers: context.request.headers,
      bodyBytes: context.body.length,
    },
  );
}

export async function answerSlow(context: ReplyContext): Promise<void> {
  context.ledger.admit(context.arrivedAt, inputTokensOf(context.body));
  const requested = Number(context.url.searchParams.get('ms') ?? '0');
  const waitMs = Number.isFinite(requested) && requested > 0 ? requested : 0;
  const completed = await sleep(waitMs, true, { signal: context.signal }).catch(() => false);
  if (completed) sendJson(context, 200, {}, { sleptMs: waitMs });
}

const BODYLESS_STATUSES = new Set([204, 205, 304]);

/** `/status/NNN` answers NNN; `?retry-after=S` adds that header, for testing 429 and 503 handling. */
export function answerStatus(context: ReplyContext, status: number): void {
  // Only an answered request costs tokens; an error answer is a refusal.
  if (status < 400) context.ledger.admit(context.arrivedAt, inputTokensOf(context.body));
  if (status === 429) context.ledger.countRateLimited();
  const retryAfter = context.url.searchParams.get('retry-after');
  const headers = retryAfter === null ? {} : { 'retry-after': retryAfter };
  if (BODYLESS_STATUSES.has(status)) {
    context.response.writeHead(status, headers);
    context.response.end();
    return;
  }
  sendJson(context, status, headers, { status });
}
