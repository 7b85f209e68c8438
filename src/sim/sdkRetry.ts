/**
 * How the official Anthropic and OpenAI SDKs (Stainless-generated) decide to retry, as a pure
 * function so that the simulated clients behave like real ones and the rule can be tested.
 *
 * - Retry: a connection error, or status 408, 409, 429 or ≥ 500, unless `x-should-retry` says
 *   otherwise; at most `maxRetries` times (the SDKs' default is 2).
 * - Wait: what the answer asks for, `retry-after-ms` first, then `retry-after` (seconds or an
 *   HTTP date), when it is more than 0 and less than 60 s. Otherwise exponential backoff:
 *   0.5 s · 2^n capped at 8 s, minus up to 25 % jitter.
 *
 * The demo compresses time, so the 60 s, 0.5 s and 8 s come in `SdkRetryRule`, already scaled.
 */
export interface SdkRetryRule {
  maxRetries: number;
  /** Server-asked waits at or above this are ignored in favour of backoff (the SDKs: 60 s). */
  maxHonouredWaitMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export function scaledSdkRetryRule(timeScale: number, maxRetries = 2): SdkRetryRule {
  return { maxRetries, maxHonouredWaitMs: 60_000 / timeScale, initialBackoffMs: 500 / timeScale, maxBackoffMs: 8_000 / timeScale };
}

export type AttemptOutcome =
  { kind: 'connection-error' } | { kind: 'answer'; status: number; header: (name: string) => string | undefined };

export type RetryDecision =
  { retry: false } | { retry: true; delayMs: number; /** True when the wait is the one the answer asked for. */ honoured: boolean };

function shouldRetry(outcome: AttemptOutcome): boolean {
  if (outcome.kind === 'connection-error') return true;
  const explicit = outcome.header('x-should-retry');
  if (explicit === 'true') return true;
  if (explicit === 'false') return false;
  const { status } = outcome;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** The wait an answer asks for, in ms, or undefined when it asks for none readable. */
export function askedWaitMs(header: (name: string) => string | undefined, now: number): number | undefined {
  const milliseconds = Number.parseFloat(header('retry-after-ms') ?? '');
  if (!Number.isNaN(milliseconds)) return milliseconds;
  const retryAfter = header('retry-after');
  if (retryAfter === undefined) return undefined;
  const seconds = Number.parseFloat(retryAfter);
  if (!Number.isNaN(seconds)) return seconds * 1000;
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : date - now;
}

/**
 * `retriesDone` is how many retries this request has had already; `random` is in [0, 1) and
 * only the backoff's jitter uses it.
 */
export function decideRetry(outcome: AttemptOutcome, retriesDone: number, rule: SdkRetryRule, random: number, now: number): RetryDecision {
  if (retriesDone >= rule.maxRetries || !shouldRetry(outcome)) return { retry: false };
  const asked = outcome.kind === 'answer' ? askedWaitMs(outcome.header, now) : undefined;
  if (asked !== undefined && asked > 0 && asked < rule.maxHonouredWaitMs) return { retry: true, delayMs: asked, honoured: true };
  const backoff = Math.min(rule.initialBackoffMs * 2 ** retriesDone, rule.maxBackoffMs);
  return { retry: true, delayMs: backoff * (1 - random * 0.25), honoured: false };
}
