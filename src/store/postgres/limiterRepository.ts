import type { CalibrationSample } from '../../core/calibration.js';
import type { BudgetAdjustment } from '../../core/controller.js';
import type { RateLimitEventRow } from '../../core/statusReport.js';
import type { LimiterState, UsageBucket } from '../../core/types.js';
import type { AdmittedRequest, LimiterRepository, RequestOutcome, RequestRecord } from '../port.js';
import { rateLimitEventColumns, rateLimitEventValues, requestOf } from '../rows.js';
import { stateColumns, stateKeys, stateOf, type StateRow } from '../stateColumns.js';
import {
  columnList,
  selectRequest,
  selectState,
  sumBuckets,
  sumDaily,
  totalsOf,
  type RequestRow,
  type TotalsRow,
} from './limiterStatements.js';
import { write } from './batchedConnection.js';
import type { ReservedRequestId } from './reservedRequestId.js';
import { bigintBound, firstRow, rowsOf, run, type Queryable } from './statements.js';

const pruneBatch = 5_000;

const requestColumns =
  'admitted_at, bucket_start, method, path, probe, est_input_tokens, est_output_tokens, worker_pid, scope, charge_output_tokens';

const insertState = `INSERT INTO limiter_state (scope, ${columnList}, created_at, updated_at)
  VALUES ($1, ${stateKeys.map((_, index) => `$${index + 3}`).join(', ')}, $2, $2) ON CONFLICT (scope) DO NOTHING RETURNING scope`;
const updateState = `UPDATE limiter_state SET ${stateKeys.map((key, index) => `${stateColumns[key]} = $${index + 3}`).join(', ')}, updated_at = $2 WHERE scope = $1`;

/**
 * Another transaction created the scope's row between this one's read and its insert. The
 * decision this transaction was about to make rests on a state that is not the one committed,
 * so the whole transaction runs again (transact retries it) and reads the row that now exists.
 */
export class ScopeCreatedConcurrently extends Error {
  override readonly name = 'ScopeCreatedConcurrently';
}

/**
 * The limiter's tables on PostgreSQL. In a writing transaction (`locking`), readState takes the
 * scope's row lock (SELECT … FOR UPDATE) until commit: every admit, settle, 429 and tick of one
 * scope, from whichever host, runs one after another, which is what keeps several hosts within
 * one budget together. A read-only snapshot takes no lock.
 */
export class PostgresLimiterRepository implements LimiterRepository {
  constructor(
    private readonly client: Queryable,
    private readonly locking: boolean,
    /** The id an admitting load drew for this transaction's INSERT (snapshotLoader.ts). */
    private readonly requestIds: ReservedRequestId | null = null,
  ) {}

  async readState(scope: string): Promise<LimiterState | null> {
    const row = await firstRow<StateRow>(this.client, this.locking ? `${selectState} FOR UPDATE` : selectState, [scope]);
    return row === undefined ? null : stateOf(row);
  }

  /**
   * Creates the scope's row. Its uncommitted insert holds the row as a lock would: another
   * transaction's insert of the same scope waits for this one's commit. When another transaction
   * made the row first, this one is run again (ScopeCreatedConcurrently) instead of going on with
   * a state that is not the committed one and without the row's lock.
   */
  async createState(scope: string, state: LimiterState, now: number): Promise<void> {
    const created = await run(this.client, insertState, [scope, now, ...stateKeys.map((key) => state[key])]);
    if (created.rowCount === 0) throw new ScopeCreatedConcurrently(`scope ${scope} was created by another transaction`);
  }

  async writeState(scope: string, state: LimiterState, now: number): Promise<void> {
    await write(this.client, updateState, [scope, now, ...stateKeys.map((key) => state[key])]);
  }

  async activeScopes(usageFrom: number, changedSince: number): Promise<string[]> {
    const rows = await rowsOf<{ scope: string }>(
      this.client,
      `SELECT scope FROM usage_buckets WHERE start >= $1 GROUP BY scope
       UNION SELECT scope FROM limiter_state
       WHERE cooldown_until IS NOT NULL OR probe_request_id IS NOT NULL OR consecutive_429s > 0 OR backoff_level > 0 OR updated_at >= $2`,
      [bigintBound(usageFrom), bigintBound(changedSince)],
    );
    return rows.map((row) => row.scope);
  }

  async touchedScopes(usageFrom: number, changedSince: number): Promise<string[]> {
    const rows = await rowsOf<{ scope: string }>(
      this.client,
      'SELECT DISTINCT scope FROM usage_buckets WHERE start >= $1 UNION SELECT scope FROM limiter_state WHERE updated_at >= $2',
      [bigintBound(usageFrom), bigintBound(changedSince)],
    );
    return rows.map((row) => row.scope);
  }

  async scopesOfKey(fingerprint: string): Promise<string[]> {
    const rows = await rowsOf<{ scope: string }>(
      this.client,
      "SELECT scope FROM limiter_state WHERE strpos(scope, '/') > 0 AND left(scope, strpos(scope, '/')) = $1 ORDER BY scope",
      [`${fingerprint}/`],
    );
    return rows.map((row) => row.scope);
  }

  async fingerprintSecret(): Promise<string> {
    const row = await firstRow<{ secret: string }>(this.client, 'SELECT secret FROM fingerprint_secret WHERE id = 1');
    if (row === undefined) throw new Error('fingerprint_secret has no row; the schema is damaged');
    return row.secret;
  }

  async bucketsFrom(scope: string, oldestStart: number): Promise<UsageBucket[]> {
    const rows = await rowsOf<{ start: number; input_tokens: number; output_tokens: number; requests: number }>(
      this.client,
      'SELECT start, input_tokens, output_tokens, requests FROM usage_buckets WHERE scope = $1 AND start >= $2 ORDER BY start',
      [scope, oldestStart],
    );
    return rows.map((row) => ({
      start: row.start,
      inputTokens: row.input_tokens,
      outputTokens: row.output_tokens,
      requests: row.requests,
    }));
  }

  async bucketTotalsFrom(scope: string, oldestStart: number): Promise<UsageBucket> {
    return totalsOf(await firstRow<TotalsRow>(this.client, sumBuckets, [scope, oldestStart]), oldestStart);
  }

  async addToBucket(scope: string, start: number, inputTokens: number, outputTokens: number, requests: number): Promise<void> {
    await write(
      this.client,
      `INSERT INTO usage_buckets AS b (scope, start, input_tokens, output_tokens, requests) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (scope, start) DO UPDATE SET input_tokens = b.input_tokens + excluded.input_tokens,
         output_tokens = b.output_tokens + excluded.output_tokens, requests = b.requests + excluded.requests`,
      [scope, start, inputTokens, outputTokens, requests],
    );
  }

  async dailyTotalsFrom(scope: string, oldestHour: number): Promise<UsageBucket> {
    return totalsOf(await firstRow<TotalsRow>(this.client, sumDaily, [scope, oldestHour]), oldestHour);
  }

  async addToDaily(scope: string, hourStart: number, inputTokens: number, outputTokens: number, requests: number): Promise<void> {
    await write(
      this.client,
      `INSERT INTO daily_usage AS d (scope, hour_start, input_tokens, output_tokens, requests) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (scope, hour_start) DO UPDATE SET input_tokens = d.input_tokens + excluded.input_tokens,
         output_tokens = d.output_tokens + excluded.output_tokens, requests = d.requests + excluded.requests`,
      [scope, hourStart, inputTokens, outputTokens, requests],
    );
  }

  /** With the id the transaction's admitting load drew (snapshotLoader.ts), it waits for COMMIT; without one it is a round trip of its own. */
  async insertAdmitted(request: AdmittedRequest): Promise<number> {
    const values = [
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
    ];
    const reserved = this.requestIds?.take() ?? null;
    if (reserved !== null) {
      await write(this.client, `INSERT INTO requests (${requestColumns}, id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, [
        ...values,
        reserved,
      ]);
      return reserved;
    }
    const row = await firstRow<{ id: number }>(
      this.client,
      `INSERT INTO requests (${requestColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
      values,
    );
    if (row === undefined) throw new Error('INSERT … RETURNING id returned no row');
    return row.id;
  }

  async findRequest(id: number): Promise<RequestRecord | null> {
    const row = await firstRow<RequestRow>(this.client, selectRequest, [id]);
    return row === undefined ? null : requestOf(row);
  }

  async markHead(id: number, at: number): Promise<void> {
    await write(this.client, 'UPDATE requests SET head_at = $1 WHERE id = $2 AND head_at IS NULL', [at, id]);
  }

  async markSettled(
    id: number,
    at: number,
    outcome: RequestOutcome,
    status: number | null,
    inputTokens: number | null,
    outputTokens: number | null,
  ): Promise<void> {
    await write(
      this.client,
      'UPDATE requests SET settled_at = $1, outcome = $2, status = $3, input_tokens = $4, output_tokens = $5 WHERE id = $6',
      [at, outcome, status, inputTokens, outputTokens, id],
    );
  }

  async recordRateLimitEvent(scope: string, event: RateLimitEventRow): Promise<void> {
    await write(
      this.client,
      `INSERT INTO rate_limit_events (${rateLimitEventColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      rateLimitEventValues(scope, event),
    );
  }

  async recordSample(scope: string, sample: CalibrationSample): Promise<void> {
    await write(
      this.client,
      'INSERT INTO calibration_samples (at, kind, tokens, requests, window_ms, retry_after_ms, limit_tokens, limit_requests, scope) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      [
        sample.at,
        sample.kind,
        sample.tokens,
        sample.requests,
        sample.windowMs,
        sample.retryAfterMs,
        sample.limitTokens,
        sample.limitRequests,
        scope,
      ],
    );
  }

  async recordAdjustment(scope: string, at: number, adjustment: BudgetAdjustment): Promise<void> {
    await write(
      this.client,
      'INSERT INTO budget_adjustments (at, kind, from_value, to_value, reason, gates, detail, scope) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [
        at,
        adjustment.kind,
        adjustment.from,
        adjustment.to,
        adjustment.reason,
        adjustment.gates === null ? null : JSON.stringify(adjustment.gates),
        adjustment.detail,
        scope,
      ],
    );
  }

  async recordAudit(at: number, action: string, actor: string, reason: string | null, detail: unknown): Promise<void> {
    await insertAudit(this.client, at, action, actor, reason, detail);
  }

  async addRefusalCounts(scope: string, cooldown: number, budget: number, now: number): Promise<void> {
    await write(
      this.client,
      'UPDATE limiter_state SET refused_cooldown_total = refused_cooldown_total + $1, refused_budget_total = refused_budget_total + $2, updated_at = $3 WHERE scope = $4',
      [cooldown, budget, now, scope],
    );
  }

  /** In batches, so that a long-idle database never holds the request path for long. */
  async pruneBefore(requestsBefore: number, bucketsBefore: number, dailyBefore: number): Promise<{ requests: number; buckets: number }> {
    await run(
      this.client,
      `DELETE FROM daily_usage WHERE (scope, hour_start) IN (SELECT scope, hour_start FROM daily_usage WHERE hour_start < $1 LIMIT ${pruneBatch})`,
      [dailyBefore],
    );
    const requests = await run(
      this.client,
      `DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE admitted_at < $1 ORDER BY admitted_at LIMIT ${pruneBatch})`,
      [requestsBefore],
    );
    const buckets = await run(
      this.client,
      `DELETE FROM usage_buckets WHERE (scope, start) IN (SELECT scope, start FROM usage_buckets WHERE start < $1 LIMIT ${pruneBatch})`,
      [bucketsBefore],
    );
    return { requests: requests.rowCount ?? 0, buckets: buckets.rowCount ?? 0 };
  }

  async countZeroTokenSamples(): Promise<number> {
    return (
      (await firstRow<{ count: number }>(this.client, 'SELECT COUNT(*) AS count FROM calibration_samples WHERE tokens = 0'))?.count ?? 0
    );
  }

  async deleteZeroTokenSamples(): Promise<number> {
    return (await run(this.client, 'DELETE FROM calibration_samples WHERE tokens = 0')).rowCount ?? 0;
  }
}

export async function insertAudit(
  client: Queryable,
  at: number,
  action: string,
  actor: string,
  reason: string | null,
  detail: unknown,
): Promise<void> {
  await run(client, 'INSERT INTO audit_log (at, action, actor, reason, detail) VALUES ($1, $2, $3, $4, $5)', [
    at,
    action,
    actor,
    reason,
    JSON.stringify(detail),
  ]);
}
