import type { Database, Statement } from 'better-sqlite3';
import { limiterSql } from './limiterSql.js';
import type { CalibrationSample, SampleKind, SampleSummary } from '../../core/calibration.js';
import type { BudgetAdjustment } from '../../core/controller.js';
import type { RateLimitEventRow } from '../../core/statusReport.js';
import type { LimiterState, UsageBucket } from '../../core/types.js';
import type { AdmittedRequest, RequestRecord, RequestOutcome } from '../port.js';
import { rateLimitEventValues, requestOf, type RequestDbRow } from '../rows.js';
import { stateOf, type StateRow } from '../stateColumns.js';

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
  private readonly selectRequest: Statement<[number], RequestDbRow>;
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
    this.selectState = db.prepare(limiterSql.selectState);
    this.insertState = db.prepare(limiterSql.insertState);
    this.selectActiveScopes = db.prepare(limiterSql.selectActiveScopes);
    this.selectTouchedScopes = db.prepare(limiterSql.selectTouchedScopes);
    this.selectScopesOfKey = db.prepare(limiterSql.selectScopesOfKey);
    this.updateState = db.prepare(limiterSql.updateState);
    this.selectBuckets = db.prepare(limiterSql.selectBuckets);
    this.sumBuckets = db.prepare(limiterSql.sumBuckets);
    this.upsertBucket = db.prepare(limiterSql.upsertBucket);
    this.sumDaily = db.prepare(limiterSql.sumDaily);
    this.upsertDaily = db.prepare(limiterSql.upsertDaily);
    this.deleteOldDaily = db.prepare(limiterSql.deleteOldDaily);
    this.insertRequest = db.prepare(limiterSql.insertRequest);
    this.selectRequest = db.prepare(limiterSql.selectRequest);
    this.markHeadStatement = db.prepare(limiterSql.markHeadStatement);
    this.settleRequest = db.prepare(limiterSql.settleRequest);
    this.insertEvent = db.prepare(limiterSql.insertEvent);
    this.insertSample = db.prepare(limiterSql.insertSample);
    this.insertAdjustment = db.prepare(limiterSql.insertAdjustment);
    this.insertAudit = db.prepare(limiterSql.insertAudit);
    this.addRefusals = db.prepare(limiterSql.addRefusals);
    this.deleteOldRequests = db.prepare(limiterSql.deleteOldRequests);
    this.deleteOldBuckets = db.prepare(limiterSql.deleteOldBuckets);
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
    return row === undefined ? null : requestOf(row);
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
