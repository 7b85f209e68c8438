import type { BudgetKind, GateReport } from '../core/controller.js';
import type { Dimension, Refill, ReportedRemaining } from '../core/reported.js';
import type { AdjustmentRow, RateLimitEventRow } from '../core/statusReport.js';
import type { RequestRecord, SupervisorEventKind, SupervisorEventRecord } from './port.js';

/*
 * Rows as both backends' drivers return them (the tables are the same by design, docs/tables.md)
 * and the port's records they become.
 */

export interface SupervisorEventDbRow {
  id: number;
  at: number;
  kind: SupervisorEventKind;
  supervisor_pid: number;
  /** Absent in rows read before migration 009's column existed. */
  supervisor?: string | null;
  worker_pid: number | null;
  exit_code: number | null;
  signal: string | null;
  cause: string | null;
  delay_ms: number | null;
  detail: string | null;
}

export function supervisorEventOf(row: SupervisorEventDbRow): SupervisorEventRecord {
  return {
    id: row.id,
    at: row.at,
    kind: row.kind,
    supervisorPid: row.supervisor_pid,
    supervisor: row.supervisor ?? null,
    workerPid: row.worker_pid,
    exitCode: row.exit_code,
    signal: row.signal,
    cause: row.cause,
    delayMs: row.delay_ms,
    detail: row.detail,
  };
}

export interface AdjustmentDbRow {
  at: number;
  kind: BudgetKind;
  from_value: number | null;
  to_value: number | null;
  reason: string;
  gates: string | null;
  detail: string;
}

export function adjustmentOf(row: AdjustmentDbRow): AdjustmentRow {
  return {
    at: row.at,
    kind: row.kind,
    from: row.from_value,
    to: row.to_value,
    reason: row.reason,
    gates: row.gates === null ? null : (JSON.parse(row.gates) as GateReport),
    detail: row.detail,
  };
}

export interface RateLimitEventDbRow {
  at: number;
  request_id: number | null;
  retry_after_ms: number | null;
  consecutive_429s: number;
  backoff_level: number;
  escalated: number;
  cooldown_ms: number;
  cooldown_until: number;
  window_tokens: number;
  window_requests: number;
}

/** `rate_limit_events`' columns in the order rateLimitEventValues gives them. */
export const rateLimitEventColumns =
  'at, request_id, retry_after_ms, consecutive_429s, backoff_level, escalated, cooldown_ms, cooldown_until, window_tokens, window_requests, scope';

/** A rate-limit event's values, for an INSERT of rateLimitEventColumns. */
export function rateLimitEventValues(
  scope: string,
  event: RateLimitEventRow,
): [number, number | null, number | null, number, number, number, number, number, number, number, string] {
  return [
    event.at,
    event.requestId,
    event.retryAfterMs,
    event.consecutive429s,
    event.backoffLevel,
    event.escalated ? 1 : 0,
    event.cooldownMs,
    event.cooldownUntil,
    event.windowTokens,
    event.windowRequests,
    scope,
  ];
}

export function rateLimitEventOf(row: RateLimitEventDbRow): RateLimitEventRow {
  return {
    at: row.at,
    requestId: row.request_id,
    retryAfterMs: row.retry_after_ms,
    consecutive429s: row.consecutive_429s,
    backoffLevel: row.backoff_level,
    escalated: row.escalated === 1,
    cooldownMs: row.cooldown_ms,
    cooldownUntil: row.cooldown_until,
    windowTokens: row.window_tokens,
    windowRequests: row.window_requests,
  };
}

export interface ReportedDbRow {
  dimension: Dimension;
  limit_value: number | null;
  remaining: number;
  reset_at: number;
  seen_at: number;
  admitted_since: number;
  rounding_slack: number;
  refill: Refill;
}

export function reportOf(row: ReportedDbRow): ReportedRemaining {
  return {
    dimension: row.dimension,
    limit: row.limit_value,
    remaining: row.remaining,
    resetAt: row.reset_at,
    seenAt: row.seen_at,
    admittedSince: row.admitted_since,
    roundingSlack: row.rounding_slack,
    refill: row.refill,
  };
}

/** A row of `requests` as both backends read it for an event (the charged output defaults to the estimate in SQL). */
export interface RequestDbRow {
  id: number;
  admitted_at: number;
  bucket_start: number;
  probe: number;
  est_input_tokens: number;
  est_output_tokens: number;
  charge_output_tokens: number;
  outcome: string;
  scope: string;
}

export function requestOf(row: RequestDbRow): RequestRecord {
  return {
    id: row.id,
    admittedAt: row.admitted_at,
    bucketStart: row.bucket_start,
    probe: row.probe === 1,
    estInputTokens: row.est_input_tokens,
    estOutputTokens: row.est_output_tokens,
    chargeOutputTokens: row.charge_output_tokens,
    outcome: row.outcome,
    scope: row.scope,
  };
}
