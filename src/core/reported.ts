import type { TokenEstimate } from './types.js';

/**
 * The limits an upstream reports on each answer. Anthropic reports all four (the combined
 * `tokens` one is its most restrictive token limit in effect); OpenAI `tokens` and `requests`.
 */
export type Dimension = 'tokens' | 'input-tokens' | 'output-tokens' | 'requests';

export const dimensions: readonly Dimension[] = ['tokens', 'input-tokens', 'output-tokens', 'requests'];

/** What the upstream last said is left of one limit, and what ratewarden has sent since. */
export interface ReportedRemaining {
  dimension: Dimension;
  limit: number | null;
  remaining: number;
  /** When the limit is full again (ms since the epoch); the upstream's token bucket refills linearly until then. */
  resetAt: number;
  seenAt: number;
  /**
   * Charged since `seenAt` and not yet in `remaining`, less what was refunded since: the requests
   * in flight when the report was adopted (but the one whose answer carried it, which the upstream
   * had already charged) plus everything admitted after it, each corrected to what the upstream
   * finally counts when it settles. Negative when more came back than went out (a stream's unused
   * `max_tokens`). Reset by each new report.
   */
  admittedSince: number;
  /** How far `remaining` may be above the truth: Anthropic rounds token counts to the thousand (500). */
  roundingSlack: number;
  /**
   * How the limit refills: `bucket`, a token bucket replenished continuously (Anthropic documents
   * its limits so), whose whole content a client may draw at once; `window`, anything else (a
   * sliding window refills only as old usage ages out, so the linear refill is an upper bound).
   */
  refill: Refill;
}

export type Refill = 'bucket' | 'window';

/** A report as read from one answer's headers, before it is adopted. */
export type Report = Omit<ReportedRemaining, 'seenAt' | 'admittedSince'>;

/** What a request costs on one dimension. The combined `tokens` limit counts input and output. */
export function needOn(dimension: Dimension, estimate: TokenEstimate): number {
  switch (dimension) {
    case 'tokens':
      return estimate.inputTokens + estimate.outputTokens;
    case 'input-tokens':
      return estimate.inputTokens;
    case 'output-tokens':
      return estimate.outputTokens;
    case 'requests':
      return 1;
  }
}

/** The budget kind a dimension limits: the controller's token budget or its request budget. */
export function kindOf(dimension: Dimension): 'tokens' | 'requests' {
  return dimension === 'requests' ? 'requests' : 'tokens';
}

/** A report older than one window says nothing about a second tenant's traffic since: the local window guards instead. */
export function isFresh(report: ReportedRemaining, now: number, windowMs: number): boolean {
  return now - report.seenAt <= windowMs;
}

/**
 * The reports admission follows: the fresh ones, without the combined token limit when the
 * separate input and output limits are both reported (it is only the stricter of the two).
 */
export function reportsInForce(reports: readonly ReportedRemaining[], now: number, windowMs: number): ReportedRemaining[] {
  const fresh = reports.filter((report) => isFresh(report, now, windowMs));
  const split = fresh.some((r) => r.dimension === 'input-tokens') && fresh.some((r) => r.dimension === 'output-tokens');
  return split ? fresh.filter((report) => report.dimension !== 'tokens') : fresh;
}

/** Tokens per ms the upstream refills, from the report itself: what was missing over the time until reset. */
function refillRate(report: ReportedRemaining): number | null {
  if (report.limit === null || report.resetAt <= report.seenAt || report.remaining >= report.limit) return null;
  return (report.limit - report.remaining) / (report.resetAt - report.seenAt);
}

/** What the upstream holds now by the report: its remaining plus the continuous refill since, never above the limit. */
export function refilledAt(report: ReportedRemaining, now: number): number {
  if (report.limit === null) return report.remaining;
  if (now >= report.resetAt) return report.limit;
  const rate = refillRate(report);
  return rate === null ? report.remaining : Math.min(report.limit, report.remaining + rate * Math.max(0, now - report.seenAt));
}

export type ReportedFit = { fits: true } | { fits: false; waitMs: number; message: string };

/**
 * Whether `need` fits in what the upstream says is left, less what was sent since, plus the
 * refill since, keeping `(1 − margin) × limit` in hand for what ratewarden cannot see. A request
 * larger than the whole margin-scaled limit fits when nothing else holds the limit.
 */
export function fitsReported(report: ReportedRemaining, need: number, now: number, margin: number): ReportedFit {
  if (need <= 0) return { fits: true };
  const whole = report.limit === null ? null : Math.floor(report.limit * margin);
  const held = report.limit === null || whole === null ? 0 : report.limit - whole;
  const refilled = refilledAt(report, now) - report.admittedSince;
  // Refunds never fill a bucket above its limit.
  const available = report.limit === null ? refilled : Math.min(report.limit, refilled);
  const free = available - report.roundingSlack - held;
  if (need <= free) return { fits: true };
  if (whole !== null && need > whole && available >= whole) return { fits: true };
  const rate = refillRate(report);
  const target = whole !== null && need > whole ? whole - available : need - free;
  const waitMs = rate === null ? Math.max(1, report.resetAt - now) : Math.max(1, Math.ceil(target / rate));
  return {
    fits: false,
    waitMs,
    message: `upstream reports ${report.remaining} ${report.dimension} left (${Math.floor(available)} after refill and ${report.admittedSince} sent since); this request needs ${need}`,
  };
}

/**
 * Adopts a new report: only a newer one replaces what is known. `readAt` is the time its reset
 * was computed from (the host's clock when the headers were read, which on a shared server may
 * differ from the store's `seenAt`): the reset keeps its distance from that moment, so the
 * stored time is on the store's clock like every time it is compared with.
 */
export function adoptReport(
  previous: ReportedRemaining | null,
  report: Report,
  seenAt: number,
  inFlight: number,
  readAt: number = seenAt,
): ReportedRemaining | null {
  if (previous !== null && previous.seenAt > seenAt) return null;
  return { ...report, resetAt: seenAt + (report.resetAt - readAt), seenAt, admittedSince: inFlight };
}
