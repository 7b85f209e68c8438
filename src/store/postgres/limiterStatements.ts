import type { UsageBucket } from '../../core/types.js';
import type { RequestDbRow } from '../rows.js';
import { stateColumns, stateKeys } from '../stateColumns.js';

/** The limiter's statements the load step shares with the repository (snapshotLoader.ts), and the rows they return. */

export const columnList = stateKeys.map((key) => stateColumns[key]).join(', ');

export const selectState = `SELECT ${columnList} FROM limiter_state WHERE scope = $1`;
export const sumBuckets = `SELECT MIN(start) AS start, SUM(input_tokens)::bigint AS input_tokens, SUM(output_tokens)::bigint AS output_tokens,
  SUM(requests)::bigint AS requests FROM usage_buckets WHERE scope = $1 AND start >= $2`;
export const sumDaily = `SELECT MIN(hour_start) AS start, SUM(input_tokens)::bigint AS input_tokens, SUM(output_tokens)::bigint AS output_tokens,
  SUM(requests)::bigint AS requests FROM daily_usage WHERE scope = $1 AND hour_start >= $2`;

export interface TotalsRow {
  start: number | null;
  input_tokens: number | null;
  output_tokens: number | null;
  requests: number | null;
}

export function totalsOf(row: TotalsRow | undefined, from: number): UsageBucket {
  return {
    start: row?.start ?? from,
    inputTokens: row?.input_tokens ?? 0,
    outputTokens: row?.output_tokens ?? 0,
    requests: row?.requests ?? 0,
  };
}

export const selectRequest =
  'SELECT id, admitted_at, bucket_start, probe, est_input_tokens, est_output_tokens, COALESCE(charge_output_tokens, est_output_tokens) AS charge_output_tokens, outcome, scope, model FROM requests WHERE id = $1';

/** With the model the request named (the load step reads it with the request). */
export interface RequestRow extends RequestDbRow {
  model: string | null;
}
