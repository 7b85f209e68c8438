import type { LimiterPolicy } from '../../core/types.js';
import { bucketStartFor, bucketWidthFor } from '../../core/window.js';
import { openDatabase } from './open.js';

export interface BenchHistory {
  /** Settled requests spread evenly over the retention period up to `now`. */
  count: number;
  scopes: readonly string[];
  now: number;
  policy: LimiterPolicy;
}

/**
 * For bench:admit: history as a long-running proxy leaves it, written in bulk through a
 * connection of its own (the request path's repositories would take minutes for 10 M rows).
 * Every scope is active: its state row exists and its window (and the grace after it that
 * retention keeps) holds traffic, as under real load. The file is created and migrated if new.
 */
export function seedBenchHistory(path: string, history: BenchHistory): void {
  const { count, scopes, now, policy } = history;
  const widthMs = bucketWidthFor(policy.windowMs);
  const oldest = now - policy.retentionMs;
  const db = openDatabase(path);
  try {
    db.prepare('CREATE TEMP TABLE bench_scopes (n INTEGER PRIMARY KEY, scope TEXT NOT NULL)').run();
    const addScope = db.prepare('INSERT INTO bench_scopes (n, scope) VALUES (?, ?)');
    scopes.forEach((scope, n) => addScope.run(n, scope));
    db.transaction(() => {
      if (count > 0) {
        db.prepare(
          `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < @last)
           INSERT INTO requests (admitted_at, bucket_start, settled_at, method, path, outcome, status, probe,
                                 est_input_tokens, est_output_tokens, input_tokens, output_tokens, worker_pid, scope)
           SELECT CAST(@oldest + i * @step AS INTEGER), (CAST(@oldest + i * @step AS INTEGER) / @width) * @width,
                  CAST(@oldest + i * @step AS INTEGER) + 900, 'POST', '/v1/messages', 'ok', 200, 0, 1200, 800, 1150, 640, 4242,
                  (SELECT scope FROM bench_scopes WHERE n = i % @scopes)
           FROM seq`,
        ).run({ last: count - 1, oldest, step: policy.retentionMs / count, width: widthMs, scopes: scopes.length });
      }
      const keptMs = 2 * policy.windowMs;
      const buckets = Math.floor(keptMs / widthMs);
      db.prepare(
        `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < @last)
         INSERT INTO usage_buckets (scope, start, input_tokens, output_tokens, requests)
         SELECT s.scope, @firstBucket + i * @width, 1150, 640, 1 FROM seq, bench_scopes s`,
      ).run({ last: buckets - 1, firstBucket: bucketStartFor(now - keptMs, widthMs), width: widthMs });
      const state = db.prepare(
        'INSERT INTO limiter_state (scope, token_budget, request_budget, configured_token_budget, configured_request_budget, first_request_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scope) DO UPDATE SET first_request_at = excluded.first_request_at',
      );
      for (const scope of scopes)
        state.run(scope, policy.tokenBudget, policy.requestBudget, policy.tokenBudget, policy.requestBudget, oldest, now, now);
    }).immediate();
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}
