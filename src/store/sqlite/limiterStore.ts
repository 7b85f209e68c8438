import type { Database, Statement } from 'better-sqlite3';
import type { CalibrationSample, SampleKind, SampleSummary } from '../../core/calibration.js';
import type { BudgetAdjustment } from '../../core/controller.js';
import type { RateLimitEventRow } from '../../core/statusReport.js';
import type { LimiterState, UsageBucket } from '../../core/types.js';
import type { AdmittedRequest, RequestRecord, RequestOutcome } from '../port.js';
import { rateLimitEventColumns, rateLimitEventValues } from '../rows.js';
import { stateColumns, stateKeys, stateOf, type StateRow } from '../stateColumns.js';

const pruneBatch = 5_000;

/** A row of `rate_limit_events`; status reads the same shape back. */
export type RateLimitEventRecord = RateLimitEventRow;

/** Typed statements over the limiter's tables. Callers own the transaction. */
export class LimiterStore {
  private readonly selectState: Statement<[string], StateRow>;
  private readonly insertState: Statement<Record<string, number | string | null>>;
  private readonly selectActiveScopes: Statement<[number, number], { scope: string }>;
  private readonly selectTouchedScopes: Statement<[number, number], { scope: string }>;
  private readonly selectScopesOfKey: Statement<[string], { scope: string }>;
  private readonly updateState: Statement<Record<string, number | string | null>>;
  private readonly selectBuckets: Statement<
    [string, number],
    { start: number; input_tokens: number; output_tokens: number; requests: number }
  >;
  private readonly sumBuckets: Statement<
    [string, number],
    { start: number | null; input_tokens: number | null; output_tokens: number | null; requests: number | null }
  >;
  private readonly upsertBucket: Statement<[string, number, number, number, number]>;
  private readonly sumDaily: Statement<
    [string, number],
    { start: number | null; input_tokens: number | null; output_tokens: number | null; requests: number | null }
  >;
  private readonly upsertDaily: Statement<[string, number, number, number, number]>;
  private readonly deleteOldDaily: Statement<[number]>;
  private readonly insertRequest: Statement<[number, number, string, string, number, number, number, number, string, number]>;
  private readonly markHeadStatement: Statement<[number, number]>;
  private readonly selectRequest: Statement<
    [number],
    {
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
  >;
  private readonly settleRequest: Statement<[number, string, number | null, number | null, number | null, number]>;
  private readonly insertEvent: Statement<
    [number, number | null, number | null, number, number, number, number, number, number, number, string]
  >;
  private readonly insertSample: Statement<[number, string, number, number, number, number | null, number | null, number | null, string]>;
  private readonly insertAdjustment: Statement<[number, string, number | null, number | null, string, string | null, string, string]>;
  private readonly insertAudit: Statement<[number, string, string, string | null, string]>;
  private readonly addRefusals: Statement<[number, number, number, string]>;
  private readonly deleteOldRequests: Statement<[number]>;
  private readonly deleteOldBuckets: Statement<[number]>;

  constructor(readonly db: Database) {
    this.selectState = db.prepare(`SELECT ${Object.values(stateColumns).join(', ')} FROM limiter_state WHERE scope = ?`);
    this.insertState = db.prepare(
      `INSERT INTO limiter_state (scope, ${stateKeys.map((key) => stateColumns[key]).join(', ')}, created_at, updated_at)
       VALUES (@scope, ${stateKeys.map((key) => `@${key}`).join(', ')}, @updatedAt, @updatedAt) ON CONFLICT (scope) DO NOTHING`,
    );
    // Off the request path (the tick, status): a scope with usage in the window, or anything of a cooldown in force, or changed lately.
    this.selectActiveScopes = db.prepare(
      `SELECT scope FROM usage_buckets WHERE start >= ? GROUP BY scope
       UNION SELECT scope FROM limiter_state
       WHERE cooldown_until IS NOT NULL OR probe_request_id IS NOT NULL OR consecutive_429s > 0 OR backoff_level > 0 OR updated_at >= ?`,
    );
    this.selectTouchedScopes = db.prepare(
      'SELECT DISTINCT scope FROM usage_buckets WHERE start >= ? UNION SELECT scope FROM limiter_state WHERE updated_at >= ?',
    );
    this.selectScopesOfKey = db.prepare("SELECT scope FROM limiter_state WHERE substr(scope, 1, instr(scope, '/')) = ?");
    this.updateState = db.prepare(
      `UPDATE limiter_state SET ${stateKeys.map((key) => `${stateColumns[key]} = @${key}`).join(', ')}, updated_at = @updatedAt WHERE scope = @scope`,
    );
    this.selectBuckets = db.prepare(
      'SELECT start, input_tokens, output_tokens, requests FROM usage_buckets WHERE scope = ? AND start >= ? ORDER BY start',
    );
    this.sumBuckets = db.prepare(
      'SELECT MIN(start) AS start, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(requests) AS requests FROM usage_buckets WHERE scope = ? AND start >= ?',
    );
    this.upsertBucket = db.prepare(
      `INSERT INTO usage_buckets (scope, start, input_tokens, output_tokens, requests) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (scope, start) DO UPDATE SET input_tokens = input_tokens + excluded.input_tokens,
         output_tokens = output_tokens + excluded.output_tokens, requests = requests + excluded.requests`,
    );
    this.sumDaily = db.prepare(
      'SELECT MIN(hour_start) AS start, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(requests) AS requests FROM daily_usage WHERE scope = ? AND hour_start >= ?',
    );
    this.upsertDaily = db.prepare(
      `INSERT INTO daily_usage (scope, hour_start, input_tokens, output_tokens, requests) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (scope, hour_start) DO UPDATE SET input_tokens = input_tokens + excluded.input_tokens,
         output_tokens = output_tokens + excluded.output_tokens, requests = requests + excluded.requests`,
    );
    this.deleteOldDaily = db.prepare(
      `DELETE FROM daily_usage WHERE (scope, hour_start) IN (SELECT scope, hour_start FROM daily_usage WHERE hour_start < ? LIMIT ${pruneBatch})`,
    );
    this.insertRequest = db.prepare(
      `INSERT INTO requests (admitted_at, bucket_start, method, path, probe, est_input_tokens, est_output_tokens, worker_pid, scope, charge_output_tokens)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selectRequest = db.prepare(
      'SELECT id, admitted_at, bucket_start, probe, est_input_tokens, est_output_tokens, COALESCE(charge_output_tokens, est_output_tokens) AS charge_output_tokens, outcome, scope FROM requests WHERE id = ?',
    );
    this.markHeadStatement = db.prepare('UPDATE requests SET head_at = ? WHERE id = ? AND head_at IS NULL');
    this.settleRequest = db.prepare(
      'UPDATE requests SET settled_at = ?, outcome = ?, status = ?, input_tokens = ?, output_tokens = ? WHERE id = ?',
    );
    this.insertEvent = db.prepare(`INSERT INTO rate_limit_events (${rateLimitEventColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.insertSample = db.prepare(
      `INSERT INTO calibration_samples (at, kind, tokens, requests, window_ms, retry_after_ms, limit_tokens, limit_requests, scope) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertAdjustment = db.prepare(
      'INSERT INTO budget_adjustments (at, kind, from_value, to_value, reason, gates, detail, scope) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.insertAudit = db.prepare('INSERT INTO audit_log (at, action, actor, reason, detail) VALUES (?, ?, ?, ?, ?)');
    this.addRefusals = db.prepare(
      'UPDATE limiter_state SET refused_cooldown_total = refused_cooldown_total + ?, refused_budget_total = refused_budget_total + ?, updated_at = ? WHERE scope = ?',
    );
    // Batches keep each prune short, so that a long-idle database never stalls the request path.
    this.deleteOldRequests = db.prepare(
      `DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE admitted_at < ? ORDER BY admitted_at LIMIT ${pruneBatch})`,
    );
    this.deleteOldBuckets = db.prepare(
      `DELETE FROM usage_buckets WHERE (scope, start) IN (SELECT scope, start FROM usage_buckets WHERE start < ? LIMIT ${pruneBatch})`,
    );
  }

  /** The scope's state, or null when the scope has never been seen. */
  readState(scope: string): LimiterState | null {
    const row = this.selectState.get(scope);
    return row === undefined ? null : stateOf(row);
  }

  /** Creates the scope's row (a no-op when another process just did). */
  createState(scope: string, state: LimiterState, now: number): void {
    this.insertState.run({ ...state, scope, updatedAt: now });
  }

  /** Scopes with usage since `usageFrom`, a cooldown (or its streak) in force, or a state changed since `changedSince`. */
  activeScopes(usageFrom: number, changedSince: number): string[] {
    return this.selectActiveScopes.all(usageFrom, changedSince).map((row) => row.scope);
  }

  touchedScopes(usageFrom: number, changedSince: number): string[] {
    return this.selectTouchedScopes.all(usageFrom, changedSince).map((row) => row.scope);
  }

  /** Every scope of one key fingerprint. */
  scopesOfKey(fingerprint: string): string[] {
    return this.selectScopesOfKey.all(`${fingerprint}/`).map((row) => row.scope);
  }

  fingerprintSecret(): string {
    const row = this.db.prepare<[], { secret: string }>('SELECT secret FROM fingerprint_secret WHERE id = 1').get();
    if (row === undefined) throw new Error('fingerprint_secret has no row; the schema is damaged');
    return row.secret;
  }

  writeState(scope: string, state: LimiterState, now: number): void {
    this.updateState.run({ ...state, scope, updatedAt: now });
  }

  bucketsFrom(scope: string, oldestStart: number): UsageBucket[] {
    return this.selectBuckets.all(scope, oldestStart).map((row) => ({
      start: row.start,
      inputTokens: row.input_tokens,
      outputTokens: row.output_tokens,
      requests: row.requests,
    }));
  }

  /**
   * The scope's buckets from `oldestStart` on, summed into one. Returning a full window row by row costs
   * about a microsecond per bucket in better-sqlite3; the sum is one row whatever the window holds.
   */
  bucketTotalsFrom(scope: string, oldestStart: number): UsageBucket {
    const row = this.sumBuckets.get(scope, oldestStart);
    return {
      start: row?.start ?? oldestStart,
      inputTokens: row?.input_tokens ?? 0,
      outputTokens: row?.output_tokens ?? 0,
      requests: row?.requests ?? 0,
    };
  }

  addToBucket(scope: string, start: number, inputTokens: number, outputTokens: number, requests: number): void {
    this.upsertBucket.run(scope, start, inputTokens, outputTokens, requests);
  }

  /** The scope's hourly rows of the daily window from `oldestHour` on, summed. */
  dailyTotalsFrom(scope: string, oldestHour: number): UsageBucket {
    const row = this.sumDaily.get(scope, oldestHour);
    return {
      start: row?.start ?? oldestHour,
      inputTokens: row?.input_tokens ?? 0,
      outputTokens: row?.output_tokens ?? 0,
      requests: row?.requests ?? 0,
    };
  }

  addToDaily(scope: string, hourStart: number, inputTokens: number, outputTokens: number, requests: number): void {
    this.upsertDaily.run(scope, hourStart, inputTokens, outputTokens, requests);
  }

  insertAdmitted(request: AdmittedRequest): number {
    const result = this.insertRequest.run(
      request.admittedAt,
      request.bucketStart,
      request.method,
      request.path,
      request.probe ? 1 : 0,
      request.estInputTokens,
      request.estOutputTokens,
      request.workerPid,
      request.scope,
      request.chargeOutputTokens,
    );
    return Number(result.lastInsertRowid);
  }

  findRequest(id: number): RequestRecord | null {
    const row = this.selectRequest.get(id);
    if (row === undefined) return null;
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

  markSettled(
    id: number,
    at: number,
    outcome: RequestOutcome,
    status: number | null,
    inputTokens: number | null,
    outputTokens: number | null,
  ): void {
    this.settleRequest.run(at, outcome, status, inputTokens, outputTokens, id);
  }

  markHead(id: number, at: number): void {
    this.markHeadStatement.run(at, id);
  }

  recordRateLimitEvent(scope: string, event: RateLimitEventRecord): void {
    this.insertEvent.run(...rateLimitEventValues(scope, event));
  }

  recordSample(scope: string, sample: CalibrationSample): void {
    this.insertSample.run(
      sample.at,
      sample.kind,
      sample.tokens,
      sample.requests,
      sample.windowMs,
      sample.retryAfterMs,
      sample.limitTokens,
      sample.limitRequests,
      scope,
    );
  }

  recordAdjustment(scope: string, at: number, adjustment: BudgetAdjustment): void {
    this.insertAdjustment.run(
      at,
      adjustment.kind,
      adjustment.from,
      adjustment.to,
      adjustment.reason,
      adjustment.gates === null ? null : JSON.stringify(adjustment.gates),
      adjustment.detail,
      scope,
    );
  }

  recordAudit(at: number, action: string, actor: string, reason: string | null, detail: unknown): void {
    this.insertAudit.run(at, action, actor, reason, JSON.stringify(detail));
  }

  addRefusalCounts(scope: string, cooldown: number, budget: number, now: number): void {
    this.addRefusals.run(cooldown, budget, now, scope);
  }

  pruneBefore(requestsBefore: number, bucketsBefore: number, dailyBefore: number): { requests: number; buckets: number } {
    this.deleteOldDaily.run(dailyBefore);
    return {
      requests: this.deleteOldRequests.run(requestsBefore).changes,
      buckets: this.deleteOldBuckets.run(bucketsBefore).changes,
    };
  }

  sampleSummaries(scope: string): SampleSummary[] {
    const kinds = this.db
      .prepare<[string], { kind: SampleKind; count: number; max_tokens: number | null; min_tokens: number | null }>(
        'SELECT kind, COUNT(*) AS count, MAX(tokens) AS max_tokens, MIN(tokens) AS min_tokens FROM calibration_samples WHERE scope = ? AND tokens > 0 GROUP BY kind',
      )
      .all(scope);
    const medianOf = this.db.prepare<[string, string, number], { tokens: number }>(
      'SELECT tokens FROM calibration_samples WHERE scope = ? AND kind = ? AND tokens > 0 ORDER BY tokens LIMIT 1 OFFSET ?',
    );
    return kinds.map((row) => ({
      kind: row.kind,
      count: row.count,
      medianTokens: medianOf.get(scope, row.kind, Math.floor((row.count - 1) / 2))?.tokens ?? null,
      maxTokens: row.max_tokens,
      minTokens: row.min_tokens,
    }));
  }

  countZeroTokenSamples(): number {
    return this.db.prepare<[], { count: number }>('SELECT COUNT(*) AS count FROM calibration_samples WHERE tokens = 0').get()?.count ?? 0;
  }

  deleteZeroTokenSamples(): number {
    return this.db.prepare('DELETE FROM calibration_samples WHERE tokens = 0').run().changes;
  }
}
