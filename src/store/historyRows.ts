import type { BudgetKind } from '../core/controller.js';
import type { Dimension } from '../core/reported.js';
import type { HistoryAdjustment, HistoryUpstream429, ReportedLine, Reservation } from '../core/statusHistory.js';

/*
 * The history's rows as both backends return them (the same columns, docs/tables.md), the
 * queries that read them, and the records they become.
 */

export interface HistoryAdjustmentDbRow {
  scope: string;
  at: number;
  kind: BudgetKind;
  from_value: number | null;
  to_value: number | null;
  reason: string;
}

export interface HistoryUpstream429DbRow {
  scope: string;
  at: number;
  backoff_level: number;
  cooldown_ms: number;
  retry_after_ms: number | null;
}

export interface ReservationDbRow {
  scope: string;
  admitted_at: number;
  est_input_tokens: number;
  est_output_tokens: number;
  probe: number;
}

export interface ReportedDbRow {
  scope: string;
  dimension: Dimension;
  limit_value: number | null;
  remaining: number;
  reset_at: number;
  seen_at: number;
}

/** Parameters: since, limit. The newest `limit` of the span, returned oldest first by the caller. */
export const historyAdjustmentsSql = (p: (n: number) => string): string =>
  `SELECT scope, at, kind, from_value, to_value, reason FROM budget_adjustments WHERE at >= ${p(1)} ORDER BY id DESC LIMIT ${p(2)}`;

export const historyUpstream429sSql = (p: (n: number) => string): string =>
  `SELECT scope, at, backoff_level, cooldown_ms, retry_after_ms FROM rate_limit_events WHERE at >= ${p(1)} ORDER BY at DESC, id DESC LIMIT ${p(2)}`;

export const reservationsSql = (p: (n: number) => string): string =>
  `SELECT scope, admitted_at, est_input_tokens, est_output_tokens, probe FROM requests WHERE outcome = 'in-flight'
   ORDER BY est_input_tokens + est_output_tokens DESC, id LIMIT ${p(1)}`;

export const reservationCountSql = "SELECT COUNT(*) AS count FROM requests WHERE outcome = 'in-flight'";

export const reportedSql =
  'SELECT scope, dimension, limit_value, remaining, reset_at, seen_at FROM reported_remaining ORDER BY scope, dimension';

export function historyAdjustmentOf(row: HistoryAdjustmentDbRow): HistoryAdjustment {
  return { scope: row.scope, at: row.at, kind: row.kind, from: row.from_value, to: row.to_value, reason: row.reason };
}

export function historyUpstream429Of(row: HistoryUpstream429DbRow): HistoryUpstream429 {
  return { scope: row.scope, at: row.at, backoffLevel: row.backoff_level, cooldownMs: row.cooldown_ms, retryAfterMs: row.retry_after_ms };
}

export function reservationOf(row: ReservationDbRow): Reservation {
  return {
    scope: row.scope,
    admittedAt: row.admitted_at,
    inputTokens: row.est_input_tokens,
    outputTokens: row.est_output_tokens,
    probe: row.probe !== 0,
  };
}

export function reportedLineOf(row: ReportedDbRow): ReportedLine {
  return {
    scope: row.scope,
    dimension: row.dimension,
    limit: row.limit_value,
    remaining: row.remaining,
    resetAt: row.reset_at,
    seenAt: row.seen_at,
  };
}
