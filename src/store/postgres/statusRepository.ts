import type { SampleKind, SampleSummary } from '../../core/calibration.js';
import type { SampleCount } from '../../core/calibrationReport.js';
import type { BudgetKind } from '../../core/controller.js';
import type { ScopeSummaryRow } from '../../core/scopeTable.js';
import type { AdjustmentRow, OperatorActionRow, RateLimitEventRow, ReservationRow, StatusSnapshot } from '../../core/statusReport.js';
import { initialLimiterState } from '../../core/types.js';
import type { HistoryRows } from '../../core/statusHistory.js';
import type { CalibrationData, HistoryQuery, SnapshotQuery, StatusRepository } from '../port.js';
import { historyOf } from './historyRepository.js';
import { PostgresLimiterRepository } from './limiterRepository.js';
import { heartbeatsOf } from './processRepository.js';
import { firstRow, rowsOf, type Queryable } from './statements.js';
import { adjustmentOf, rateLimitEventOf, type AdjustmentDbRow, type RateLimitEventDbRow } from '../rows.js';

const adjustmentColumns = 'at, kind, from_value, to_value, reason, gates, detail';

/**
 * Read-only queries for status and calibrate. They run inside the caller's transaction (the
 * store's read(): REPEATABLE READ, so the parts of a snapshot agree while proxies keep writing).
 */
export class PostgresStatusRepository implements StatusRepository {
  private readonly limiter: PostgresLimiterRepository;

  constructor(private readonly client: Queryable) {
    this.limiter = new PostgresLimiterRepository(client, false);
  }

  async scopeSummaries(bucketsFrom: number, changedSince: number): Promise<ScopeSummaryRow[]> {
    return rowsOf<ScopeSummaryRow>(
      this.client,
      `SELECT s.scope AS scope, s.cooldown_until AS "cooldownUntil", s.cooldown_started_at AS "cooldownStartedAt", s.probe_request_id AS "probeRequestId",
         s.probe_started_at AS "probeStartedAt", s.backoff_level AS "backoffLevel", s.consecutive_429s AS "consecutive429s", s.token_budget AS "tokenBudget",
         s.request_budget AS "requestBudget",
         (SELECT MIN(remaining) FROM reported_remaining r WHERE r.scope = s.scope AND r.dimension <> 'requests') AS "reportedTokensRemaining",
         (SELECT remaining FROM reported_remaining r WHERE r.scope = s.scope AND r.dimension = 'requests') AS "reportedRequestsRemaining",
         COALESCE(b.input_tokens, 0)::bigint AS "inputTokens", COALESCE(b.output_tokens, 0)::bigint AS "outputTokens", COALESCE(b.requests, 0)::bigint AS requests,
         s.refused_cooldown_total AS "refusedCooldown", s.refused_budget_total AS "refusedBudget", s.updated_at AS "updatedAt", s.quota_since AS "quotaSince"
       FROM limiter_state s
       LEFT JOIN (SELECT scope, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(requests) AS requests
                  FROM usage_buckets WHERE start >= $1 GROUP BY scope) b ON b.scope = s.scope
       WHERE b.scope IS NOT NULL OR s.cooldown_until IS NOT NULL OR s.probe_request_id IS NOT NULL OR s.consecutive_429s > 0
         OR s.backoff_level > 0 OR s.updated_at >= $2 OR s.scope = 'default'
       ORDER BY s.scope`,
      [bucketsFrom, changedSince],
    );
  }

  async hasScope(scope: string): Promise<boolean> {
    return (await firstRow(this.client, 'SELECT 1 FROM limiter_state WHERE scope = $1', [scope])) !== undefined;
  }

  async snapshot(query: SnapshotQuery, scope: string): Promise<StatusSnapshot> {
    const refusals = await firstRow<{ refused_cooldown_total: number; refused_budget_total: number }>(
      this.client,
      'SELECT refused_cooldown_total, refused_budget_total FROM limiter_state WHERE scope = $1',
      [scope],
    );
    const lastAudit = await firstRow<OperatorActionRow>(
      this.client,
      'SELECT at, action, actor, reason FROM audit_log ORDER BY id DESC LIMIT 1',
    );
    return {
      state: (await this.limiter.readState(scope)) ?? initialLimiterState,
      buckets: await this.limiter.bucketsFrom(scope, query.bucketsFrom),
      refusals: { cooldown: refusals?.refused_cooldown_total ?? 0, budget: refusals?.refused_budget_total ?? 0 },
      processes: await heartbeatsOf(this.client),
      adjustments: (
        await rowsOf<AdjustmentDbRow>(
          this.client,
          `SELECT ${adjustmentColumns} FROM budget_adjustments WHERE scope = $1 ORDER BY id DESC LIMIT $2`,
          [scope, query.adjustments],
        )
      ).map(adjustmentOf),
      lastAdjustmentByKind: {
        tokens: await this.lastAdjustmentOf(scope, 'tokens'),
        requests: await this.lastAdjustmentOf(scope, 'requests'),
      },
      sampleCounts: await this.sampleCounts(scope),
      sampleSummaries: await this.sampleSummaries(scope),
      rateLimitEvents: await this.rateLimitEvents(scope, query.rateLimitEvents),
      lastOperatorAction: lastAudit ?? null,
      reservations: await rowsOf<ReservationRow>(
        this.client,
        `SELECT id AS "requestId", scope, model, admitted_at AS "admittedAt", est_input_tokens AS "inputTokens", est_output_tokens AS "outputTokens"
         FROM requests WHERE outcome = 'in-flight' ORDER BY est_input_tokens + est_output_tokens DESC, id LIMIT $1`,
        [query.reservations ?? 5],
      ),
    };
  }

  async calibration(scope: string): Promise<CalibrationData> {
    const state = (await this.limiter.readState(scope)) ?? initialLimiterState;
    return {
      sampleCounts: await this.sampleCounts(scope),
      sampleSummaries: await this.sampleSummaries(scope),
      reported: { tokens: state.reportedTokenLimit, requests: state.reportedRequestLimit },
    };
  }

  history(query: HistoryQuery): Promise<HistoryRows> {
    return historyOf(this.client, query);
  }

  async calibratedScopes(): Promise<string[]> {
    const rows = await rowsOf<{ scope: string }>(
      this.client,
      "SELECT DISTINCT scope FROM calibration_samples UNION SELECT 'default' ORDER BY 1",
    );
    return rows.map((row) => row.scope);
  }

  private async sampleCounts(scope: string): Promise<SampleCount[]> {
    const rows = await rowsOf<{ kind: SampleKind; count: number; zero_tokens: number }>(
      this.client,
      'SELECT kind, COUNT(*) AS count, COUNT(*) FILTER (WHERE tokens = 0) AS zero_tokens FROM calibration_samples WHERE scope = $1 GROUP BY kind ORDER BY kind',
      [scope],
    );
    return rows.map((row) => ({ kind: row.kind, count: row.count, zeroTokens: row.zero_tokens }));
  }

  private async sampleSummaries(scope: string): Promise<SampleSummary[]> {
    const kinds = await rowsOf<{ kind: SampleKind; count: number; max_tokens: number | null; min_tokens: number | null }>(
      this.client,
      'SELECT kind, COUNT(*) AS count, MAX(tokens) AS max_tokens, MIN(tokens) AS min_tokens FROM calibration_samples WHERE scope = $1 AND tokens > 0 GROUP BY kind ORDER BY kind',
      [scope],
    );
    const summaries: SampleSummary[] = [];
    for (const row of kinds) {
      const median = await firstRow<{ tokens: number }>(
        this.client,
        'SELECT tokens FROM calibration_samples WHERE scope = $1 AND kind = $2 AND tokens > 0 ORDER BY tokens LIMIT 1 OFFSET $3',
        [scope, row.kind, Math.floor((row.count - 1) / 2)],
      );
      summaries.push({
        kind: row.kind,
        count: row.count,
        medianTokens: median?.tokens ?? null,
        maxTokens: row.max_tokens,
        minTokens: row.min_tokens,
      });
    }
    return summaries;
  }

  private async lastAdjustmentOf(scope: string, kind: BudgetKind): Promise<AdjustmentRow | null> {
    const row = await firstRow<AdjustmentDbRow>(
      this.client,
      `SELECT ${adjustmentColumns} FROM budget_adjustments WHERE scope = $1 AND kind = $2 ORDER BY id DESC LIMIT 1`,
      [scope, kind],
    );
    return row === undefined ? null : adjustmentOf(row);
  }

  private async rateLimitEvents(scope: string, limit: number): Promise<RateLimitEventRow[]> {
    const rows = await rowsOf<RateLimitEventDbRow>(
      this.client,
      `SELECT at, request_id, retry_after_ms, consecutive_429s, backoff_level, escalated, cooldown_ms, cooldown_until, window_tokens, window_requests
       FROM rate_limit_events WHERE scope = $1 ORDER BY at DESC, id DESC LIMIT $2`,
      [scope, limit],
    );
    return rows.map(rateLimitEventOf);
  }
}
