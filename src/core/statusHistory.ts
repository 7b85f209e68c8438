import type { BudgetKind } from './controller.js';
import type { Dimension } from './reported.js';

/** How far back the live page's charts reach, and what status reads for them. */
export const historySpanMs = 3_600_000;

/** Bounds on the rows one history read returns: the page's cost never grows with traffic. */
export const historyLimits = { adjustments: 1_000, upstream429s: 1_000, reservations: 10 } as const;

/** A budget change of one scope (a cut, a recovery, a raise), as the charts draw it. */
export interface HistoryAdjustment {
  scope: string;
  at: number;
  kind: BudgetKind;
  from: number | null;
  to: number | null;
  reason: string;
}

/** An upstream 429 as recorded (`rate_limit_events`). */
export interface HistoryUpstream429 {
  scope: string;
  at: number;
  backoffLevel: number;
  cooldownMs: number;
  retryAfterMs: number | null;
}

/** A request admitted and not yet settled, with what it reserved. */
export interface Reservation {
  scope: string;
  admittedAt: number;
  inputTokens: number;
  outputTokens: number;
  probe: boolean;
}

/** What the upstream last reported left of one limit of one scope. */
export interface ReportedLine {
  scope: string;
  dimension: Dimension;
  limit: number | null;
  remaining: number;
  resetAt: number;
  seenAt: number;
}

/** What the store holds of the last hour, in one read: the live page's charts and lists. */
export interface HistoryRows {
  /** Oldest first, from `since`. */
  adjustments: HistoryAdjustment[];
  /** Oldest first, from `since`. */
  upstream429s: HistoryUpstream429[];
  /** The largest first (input + output reserved). */
  reservations: Reservation[];
  /** Requests in flight in every scope, counted before `reservations` keeps the largest. */
  reservationsInFlight: number;
  reported: ReportedLine[];
}

/** A supervisor event of this host's history (a start, a failure, a give-up), as recorded. */
export interface HistoryRestartEvent {
  at: number;
  kind: string;
  workerPid: number | null;
  exitCode: number | null;
  signal: string | null;
  cause: string | null;
  detail: string | null;
}

export interface StatusHistory extends HistoryRows {
  since: number;
  spanMs: number;
  /** This host's supervisor events of the span, oldest first. */
  supervisorEvents: HistoryRestartEvent[];
}

/** One scope's waiting requests in the proxy that answers (only that proxy knows them). */
export interface QueueLine {
  scope: string;
  length: number;
  oldestWaitMs: number;
  /** How many wait from each session (Claude Code's session, else the key, else the connection), the most first. */
  sessions?: { session: string; length: number }[];
}

/** Local refusals of one reason in one minute (its start). */
export interface RefusalCount {
  minute: number;
  reason: string;
  count: number;
}

/** What only the running proxy knows: the page served by a proxy carries it; `status` has `null`. */
export interface LiveView {
  /** The proxy whose memory this is, as it listens. */
  proxy: string;
  queue: QueueLine[];
  /** Its local 429s and 503s per minute and reason, the last hour's, counted since `refusalsSince` (its start). */
  refusals: RefusalCount[];
  refusalsSince: number;
}

/** The oldest time a history read reaches back to. */
export function historySince(now: number): number {
  return now - historySpanMs;
}

/** How many of the supervisor's latest events the history reads (those of the span are kept). */
export const supervisorEventsRead = 50;

/**
 * A supervisor event's sentence may carry the worker's command line, and so a `--db
 * postgres://user:password@…`: the page is read by whoever reaches it, so any URL's
 * credentials are cut out.
 */
export function withoutCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1***@');
}

export function statusHistory(rows: HistoryRows, events: readonly HistoryRestartEvent[], now: number): StatusHistory {
  const since = historySince(now);
  const supervisorEvents = events
    .filter((event) => event.at >= since)
    .map(({ at, kind, workerPid, exitCode, signal, cause, detail }) => ({
      at,
      kind,
      workerPid,
      exitCode,
      signal,
      cause,
      detail: detail === null ? null : withoutCredentials(detail),
    }))
    .sort((a, b) => a.at - b.at);
  return { since, spanMs: historySpanMs, ...rows, supervisorEvents };
}
