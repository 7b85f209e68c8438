import type { IncomingHttpHeaders } from 'node:http';
import { firstValue, parseCount, parseDecimal, parseGoDuration, parseHttpDateUntil, parseRfc3339Until } from './headerValues.js';
import { boundedLimits } from './headerBounds.js';
import type { ProviderName, ReportedLimits } from './types.js';

type Header = (name: string) => string | undefined;

function readAnthropic(header: Header, now: number): ReportedLimits {
  return {
    tokenLimit: parseCount(header('anthropic-ratelimit-tokens-limit')),
    tokenRemaining: parseCount(header('anthropic-ratelimit-tokens-remaining')),
    tokenResetMs: parseRfc3339Until(header('anthropic-ratelimit-tokens-reset'), now),
    inputTokenLimit: parseCount(header('anthropic-ratelimit-input-tokens-limit')),
    inputTokenRemaining: parseCount(header('anthropic-ratelimit-input-tokens-remaining')),
    inputTokenResetMs: parseRfc3339Until(header('anthropic-ratelimit-input-tokens-reset'), now),
    outputTokenLimit: parseCount(header('anthropic-ratelimit-output-tokens-limit')),
    outputTokenRemaining: parseCount(header('anthropic-ratelimit-output-tokens-remaining')),
    outputTokenResetMs: parseRfc3339Until(header('anthropic-ratelimit-output-tokens-reset'), now),
    requestLimit: parseCount(header('anthropic-ratelimit-requests-limit')),
    requestRemaining: parseCount(header('anthropic-ratelimit-requests-remaining')),
    requestResetMs: parseRfc3339Until(header('anthropic-ratelimit-requests-reset'), now),
  };
}

/** OpenAI sends Go durations; Azure OpenAI sends the same headers as plain seconds. */
function parseOpenAiReset(text: string | undefined): number | undefined {
  const seconds = parseDecimal(text);
  return seconds === undefined ? parseGoDuration(text) : seconds * 1000;
}

function readOpenAi(header: Header): ReportedLimits {
  return {
    tokenLimit: parseCount(header('x-ratelimit-limit-tokens')),
    tokenRemaining: parseCount(header('x-ratelimit-remaining-tokens')),
    tokenResetMs: parseOpenAiReset(header('x-ratelimit-reset-tokens')),
    requestLimit: parseCount(header('x-ratelimit-limit-requests')),
    requestRemaining: parseCount(header('x-ratelimit-remaining-requests')),
    requestResetMs: parseOpenAiReset(header('x-ratelimit-reset-requests')),
  };
}

function readRetryAfterMs(header: Header, now: number): number | undefined {
  const explicitMs = parseDecimal(header('retry-after-ms'));
  if (explicitMs !== undefined) return Math.ceil(explicitMs);
  const retryAfter = header('retry-after');
  const seconds = parseDecimal(retryAfter);
  if (seconds !== undefined) return Math.ceil(seconds * 1000);
  return parseHttpDateUntil(retryAfter, now);
}

function withoutAbsent(limits: ReportedLimits): ReportedLimits {
  const present: Record<string, unknown> = {};
  for (const key in limits) {
    const value = limits[key as keyof ReportedLimits];
    if (value !== undefined) present[key] = value;
  }
  return present as ReportedLimits;
}

export function readReportedLimits(provider: ProviderName, headers: IncomingHttpHeaders, now: number): ReportedLimits {
  const header: Header = (name) => firstValue(headers[name]);
  const providerLimits = provider === 'anthropic' ? readAnthropic(header, now) : provider === 'openai' ? readOpenAi(header) : {};
  // Clamped here, once, so that nothing past this point sees an absurd wait or count (headerBounds.ts).
  return boundedLimits(withoutAbsent({ ...providerLimits, retryAfterMs: readRetryAfterMs(header, now) }));
}
