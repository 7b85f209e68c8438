import type { IncomingHttpHeaders } from 'node:http';
import type { TokenMetric } from '../core/types.js';
import { formatDuration } from '../config/durations.js';
import type { Clock } from '../warden/types.js';
import type { Warden } from '../warden/warden.js';
import type { ExchangeRecorder } from './forward.js';
import type { Logger } from './log.js';
import { readReportedLimits } from './providers/rateLimitHeaders.js';
import type { ProviderName, TokenUsage } from './providers/types.js';
import { limitsForBudget, reportsFrom } from './reportedLimits.js';

export interface RecorderSetup {
  warden: Warden;
  provider: ProviderName;
  tokenMetric: TokenMetric;
  clock: Clock;
  log: Logger;
  /** Called after each settle: budget was given back, so the admission queue looks again. */
  onSettled?: () => void;
}

const nothing: TokenUsage = { inputTokens: 0, outputTokens: 0 };

/**
 * Turns the outcome of one forwarded request into its warden event. A failure to record is
 * logged, not thrown: the answer has already gone to the client, and the next admission will
 * find the store unavailable and refuse on its own.
 */
export function exchangeRecorder(setup: RecorderSetup, requestId: number, request: { method: string; path: string }): ExchangeRecorder {
  const { warden, provider, tokenMetric, clock, log } = setup;
  const where = `${request.method} ${request.path}`;

  function record(what: string, work: () => void): void {
    try {
      work();
    } catch (error) {
      log.error('record-failed', `could not record ${what} for ${where}: ${(error as Error).message}`, { requestId });
    }
  }

  return {
    rateLimited(headers) {
      record('an upstream 429', () => {
        const now = clock();
        const reported = readReportedLimits(provider, headers, now);
        const result = warden.upstream429(requestId, {
          retryAfterMs: reported.retryAfterMs ?? null,
          reported: limitsForBudget(reported, tokenMetric),
          reports: reportsFrom(provider, reported, now),
        });
        setup.onSettled?.();
        if (result === null) return;
        const until = new Date(result.cooldownUntil).toISOString();
        const fields = { requestId, consecutive429s: result.consecutive429s, cooldownMs: result.cooldownMs, cooldownUntil: until };
        if (result.escalated) {
          log.warn('cooldown-start', `upstream answered 429 for ${where} (${result.consecutive429s} in a row); cooling down for ${formatDuration(result.cooldownMs)}, until ${until}: every request is answered locally until then`, fields);
        } else {
          log.warn('upstream-429', `upstream answered 429 for ${where}, sent before the current cooldown began; the cooldown now ends at ${until}`, fields);
        }
      });
    },
    answered(status, headers: IncomingHttpHeaders, usage) {
      record('the answer', () => {
        const now = clock();
        const reported = readReportedLimits(provider, headers, now);
        warden.settle(requestId, {
          outcome: status >= 500 ? 'upstream-error' : 'ok',
          status,
          // An error answer without usage generated nothing; a success without usage keeps its reservation.
          usage: usage ?? (status >= 400 ? nothing : null),
          reported: limitsForBudget(reported, tokenMetric),
          reports: reportsFrom(provider, reported, now),
        });
        setup.onSettled?.();
      });
    },
    cutShort(usage) {
      record('an interrupted request', () => warden.settle(requestId, { outcome: 'aborted', status: null, usage }));
      setup.onSettled?.();
    },
    failed(kind, detail) {
      record('a failed request', () => warden.settle(requestId, { outcome: kind, status: null, usage: null }));
      setup.onSettled?.();
      const event = kind === 'timeout' ? 'upstream-timeout' : 'upstream-unreachable';
      log.warn(event, `${where}: the upstream ${kind === 'timeout' ? 'did not answer in time' : 'cannot be reached'} (${detail}); answered ${kind === 'timeout' ? 504 : 502}`, { requestId });
    },
  };
}
