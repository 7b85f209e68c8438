import { rateLimitEventColumns } from '../rows.js';
import { stateColumns, stateKeys } from '../stateColumns.js';

/** A batch keeps each prune short, so that a long-idle database never stalls the request path. */
const pruneBatch = 5_000;

/** The statements of the limiter's tables on SQLite (limiterStore.ts prepares each once). */
export const limiterSql = {
  selectState: `SELECT ${Object.values(stateColumns).join(', ')} FROM limiter_state WHERE scope = ?`,
  insertState: `INSERT INTO limiter_state (scope, ${stateKeys.map((key) => stateColumns[key]).join(', ')}, created_at, updated_at)
       VALUES (@scope, ${stateKeys.map((key) => `@${key}`).join(', ')}, @updatedAt, @updatedAt) ON CONFLICT (scope) DO NOTHING`,
  // Off the request path (the tick, status): a scope with usage in the window, or anything of a cooldown in force, or changed lately.
  selectActiveScopes: `SELECT scope FROM usage_buckets WHERE start >= ? GROUP BY scope
       UNION SELECT scope FROM limiter_state
       WHERE cooldown_until IS NOT NULL OR probe_request_id IS NOT NULL OR consecutive_429s > 0 OR backoff_level > 0 OR updated_at >= ?`,
  selectTouchedScopes:
    'SELECT DISTINCT scope FROM usage_buckets WHERE start >= ? UNION SELECT scope FROM limiter_state WHERE updated_at >= ?',
  selectScopesOfKey: "SELECT scope FROM limiter_state WHERE substr(scope, 1, instr(scope, '/')) = ?",
  updateState: `UPDATE limiter_state SET ${stateKeys.map((key) => `${stateColumns[key]} = @${key}`).join(', ')}, updated_at = @updatedAt WHERE scope = @scope`,
  selectBuckets: 'SELECT start, input_tokens, output_tokens, requests FROM usage_buckets WHERE scope = ? AND start >= ? ORDER BY start',
  sumBuckets:
    'SELECT MIN(start) AS start, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(requests) AS requests FROM usage_buckets WHERE scope = ? AND start >= ?',
  upsertBucket: `INSERT INTO usage_buckets (scope, start, input_tokens, output_tokens, requests) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (scope, start) DO UPDATE SET input_tokens = input_tokens + excluded.input_tokens,
         output_tokens = output_tokens + excluded.output_tokens, requests = requests + excluded.requests`,
  sumDaily:
    'SELECT MIN(hour_start) AS start, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(requests) AS requests FROM daily_usage WHERE scope = ? AND hour_start >= ?',
  upsertDaily: `INSERT INTO daily_usage (scope, hour_start, input_tokens, output_tokens, requests) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (scope, hour_start) DO UPDATE SET input_tokens = input_tokens + excluded.input_tokens,
         output_tokens = output_tokens + excluded.output_tokens, requests = requests + excluded.requests`,
  deleteOldDaily: `DELETE FROM daily_usage WHERE (scope, hour_start) IN (SELECT scope, hour_start FROM daily_usage WHERE hour_start < ? LIMIT ${pruneBatch})`,
  insertRequest: `INSERT INTO requests (admitted_at, bucket_start, method, path, probe, est_input_tokens, est_output_tokens, worker_pid, scope, charge_output_tokens)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  selectRequest:
    'SELECT id, admitted_at, bucket_start, probe, est_input_tokens, est_output_tokens, COALESCE(charge_output_tokens, est_output_tokens) AS charge_output_tokens, outcome, scope FROM requests WHERE id = ?',
  markHeadStatement: 'UPDATE requests SET head_at = ? WHERE id = ? AND head_at IS NULL',
  settleRequest: 'UPDATE requests SET settled_at = ?, outcome = ?, status = ?, input_tokens = ?, output_tokens = ? WHERE id = ?',
  insertEvent: `INSERT INTO rate_limit_events (${rateLimitEventColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  insertSample: `INSERT INTO calibration_samples (at, kind, tokens, requests, window_ms, retry_after_ms, limit_tokens, limit_requests, scope) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  insertAdjustment:
    'INSERT INTO budget_adjustments (at, kind, from_value, to_value, reason, gates, detail, scope) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  insertAudit: 'INSERT INTO audit_log (at, action, actor, reason, detail) VALUES (?, ?, ?, ?, ?)',
  addRefusals:
    'UPDATE limiter_state SET refused_cooldown_total = refused_cooldown_total + ?, refused_budget_total = refused_budget_total + ?, updated_at = ? WHERE scope = ?',
  // Batches keep each prune short, so that a long-idle database never stalls the request path.
  deleteOldRequests: `DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE admitted_at < ? ORDER BY admitted_at LIMIT ${pruneBatch})`,
  deleteOldBuckets: `DELETE FROM usage_buckets WHERE (scope, start) IN (SELECT scope, start FROM usage_buckets WHERE start < ? LIMIT ${pruneBatch})`,
};
