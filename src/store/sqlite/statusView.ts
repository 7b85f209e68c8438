import type { Database, Statement } from 'better-sqlite3';
import type { SampleKind } from '../../core/calibration.js';
import type { BudgetKind } from '../../core/controller.js';
import type { HeartbeatRow, ProcessRole } from '../../core/processLiveness.js';
import { parseQueueState } from '../../core/queueState.js';
import type { ScopeSummaryRow } from '../../core/scopeTable.js';
import type { AdjustmentRow, OperatorActionRow, RateLimitEventRow, ReservationRow, StatusSnapshot } from '../../core/statusReport.js';
import { initialLimiterState } from '../../core/types.js';
import type { HistoryRows } from '../../core/statusHistory.js';
import { HistoryView } from './historyView.js';
import { LimiterStore } from './limiterStore.js';
import type { SnapshotQuery, CalibrationData, HistoryQuery } from '../port.js';
import { adjustmentOf, rateLimitEventOf, type AdjustmentDbRow, type RateLimitEventDbRow } from '../rows.js';

/**
 * Read-only queries for status and calibrate (the port's StatusRepository). Inside the store's
 * read transaction the parts of a snapshot agree with each other while a proxy keeps writing.
 */
export class StatusView {
  private readonly limiter: LimiterStore;
  private readonly selectRefusals: Statement<[string], { refused_cooldown_total: number; refused_budget_total: number }>;
  private readonly selectScopeSummaries: Statement<[number, number], ScopeSummaryRow>;
  private readonly selectScopeExists: Statement<[string], { scope: string }>;
  private readonly selectProcesses: Statement<
    [],
    {
      role: ProcessRole;
      pid: number;
      started_at: number;
      heartbeat_at: number;
      listen: string | null;
      upstream: string | null;
      queue: string | null;
    }
  >;
  private readonly selectReservations: Statement<[number], ReservationRow>;
  private readonly selectAdjustments: Statement<[string, number], AdjustmentDbRow>;
  private readonly selectLastAdjustmentOf: Statement<[string, BudgetKind], AdjustmentDbRow>;
  private readonly selectSampleCounts: Statement<[string], { kind: SampleKind; count: number; zero_tokens: number }>;
  private readonly selectRateLimitEvents: Statement<[string, number], RateLimitEventDbRow>;
  private readonly selectLastAudit: Statement<[], OperatorActionRow>;
  private readonly historyView: HistoryView;

  constructor(readonly db: Database) {
    this.limiter = new LimiterStore(db);
    this.historyView = new HistoryView(db);
    this.selectRefusals = db.prepare('SELECT refused_cooldown_total, refused_budget_total FROM limiter_state WHERE scope = ?');
    this.selectScopeExists = db.prepare('SELECT scope FROM limiter_state WHERE scope = ?');
    this.selectScopeSummaries = db.prepare(
      `SELECT s.scope AS scope, s.cooldown_until AS cooldownUntil, s.cooldown_started_at AS cooldownStartedAt, s.probe_request_id AS probeRequestId,
         s.probe_started_at AS probeStartedAt, s.backoff_level AS backoffLevel, s.consecutive_429s AS consecutive429s, s.token_budget AS tokenBudget,
         s.request_budget AS requestBudget,
         (SELECT MIN(remaining) FROM reported_remaining r WHERE r.scope = s.scope AND r.dimension <> 'requests') AS reportedTokensRemaining,
         (SELECT remaining FROM reported_remaining r WHERE r.scope = s.scope AND r.dimension = 'requests') AS reportedRequestsRemaining,
         COALESCE(b.input_tokens, 0) AS inputTokens, COALESCE(b.output_tokens, 0) AS outputTokens, COALESCE(b.requests, 0) AS requests,
         s.refused_cooldown_total AS refusedCooldown, s.refused_budget_total AS refusedBudget, s.updated_at AS updatedAt, s.quota_since AS quotaSince
       FROM limiter_state s
       LEFT JOIN (SELECT scope, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(requests) AS requests
                  FROM usage_buckets WHERE start >= ? GROUP BY scope) b ON b.scope = s.scope
       WHERE b.scope IS NOT NULL OR s.cooldown_until IS NOT NULL OR s.probe_request_id IS NOT NULL OR s.consecutive_429s > 0
         OR s.backoff_level > 0 OR s.updated_at >= ? OR s.scope = 'default'`,
    );
    this.selectProcesses = db.prepare('SELECT role, pid, started_at, heartbeat_at, listen, upstream, queue FROM processes');
    this.selectReservations = db.prepare(
      `SELECT id AS requestId, scope, model, admitted_at AS admittedAt, est_input_tokens AS inputTokens, est_output_tokens AS outputTokens
       FROM requests WHERE outcome = 'in-flight' ORDER BY est_input_tokens + est_output_tokens DESC, id LIMIT ?`,
    );
    this.selectAdjustments = db.prepare(
      'SELECT at, kind, from_value, to_value, reason, gates, detail FROM budget_adjustments WHERE scope = ? ORDER BY id DESC LIMIT ?',
    );
    this.selectLastAdjustmentOf = db.prepare(
      'SELECT at, kind, from_value, to_value, reason, gates, detail FROM budget_adjustments WHERE scope = ? AND kind = ? ORDER BY id DESC LIMIT 1',
    );
    this.selectSampleCounts = db.prepare(
      'SELECT kind, COUNT(*) AS count, COALESCE(SUM(tokens = 0), 0) AS zero_tokens FROM calibration_samples WHERE scope = ? GROUP BY kind',
    );
    this.selectRateLimitEvents = db.prepare(
      `SELECT at, request_id, retry_after_ms, consecutive_429s, backoff_level, escalated, cooldown_ms, cooldown_until, window_tokens, window_requests
       FROM rate_limit_events WHERE scope = ? ORDER BY at DESC, id DESC LIMIT ?`,
    );
    this.selectLastAudit = db.prepare('SELECT at, action, actor, reason FROM audit_log ORDER BY id DESC LIMIT 1');
  }

  /** Every active scope (usage in the window from `bucketsFrom`, a cooldown in force, or changed since `changedSince`), and `default`. */
  scopeSummaries(bucketsFrom: number, changedSince: number): ScopeSummaryRow[] {
    return this.selectScopeSummaries.all(bucketsFrom, changedSince);
  }

  history(query: HistoryQuery): HistoryRows {
    return this.historyView.history(query);
  }

  hasScope(scope: string): boolean {
    return this.selectScopeExists.get(scope) !== undefined;
  }

  /** One scope in detail. */
  snapshot(query: SnapshotQuery, scope: string): StatusSnapshot {
    return this.db
      .transaction((): StatusSnapshot => {
        const refusals = this.selectRefusals.get(scope);
        return {
          state: this.limiter.readState(scope) ?? initialLimiterState,
          buckets: this.limiter.bucketsFrom(scope, query.bucketsFrom),
          refusals: { cooldown: refusals?.refused_cooldown_total ?? 0, budget: refusals?.refused_budget_total ?? 0 },
          processes: this.heartbeats(),
          adjustments: this.selectAdjustments.all(scope, query.adjustments).map(adjustmentOf),
          lastAdjustmentByKind: {
            tokens: this.lastAdjustmentOf(scope, 'tokens'),
            requests: this.lastAdjustmentOf(scope, 'requests'),
          },
          ...this.readCalibration(scope),
          rateLimitEvents: this.rateLimitEvents(scope, query.rateLimitEvents),
          lastOperatorAction: this.selectLastAudit.get() ?? null,
          reservations: this.selectReservations.all(query.reservations ?? 5),
        };
      })
      .deferred();
  }

  calibration(scope: string): CalibrationData {
    return this.db
      .transaction((): CalibrationData => {
        const state = this.limiter.readState(scope) ?? initialLimiterState;
        return { ...this.readCalibration(scope), reported: { tokens: state.reportedTokenLimit, requests: state.reportedRequestLimit } };
      })
      .deferred();
  }

  /** The scopes that hold calibration samples, and `default`. */
  calibratedScopes(): string[] {
    const rows = this.db
      .prepare<[], { scope: string }>("SELECT DISTINCT scope FROM calibration_samples UNION SELECT 'default' ORDER BY 1")
      .all();
    return rows.map((row) => row.scope);
  }

  private readCalibration(scope: string): Pick<CalibrationData, 'sampleCounts' | 'sampleSummaries'> {
    return {
      sampleCounts: this.selectSampleCounts.all(scope).map((row) => ({ kind: row.kind, count: row.count, zeroTokens: row.zero_tokens })),
      sampleSummaries: this.limiter.sampleSummaries(scope),
    };
  }

  heartbeats(): HeartbeatRow[] {
    return this.selectProcesses.all().map((row) => ({
      role: row.role,
      pid: row.pid,
      startedAt: row.started_at,
      heartbeatAt: row.heartbeat_at,
      listen: row.listen,
      upstream: row.upstream,
      queue: parseQueueState(row.queue),
    }));
  }

  private lastAdjustmentOf(scope: string, kind: BudgetKind): AdjustmentRow | null {
    const row = this.selectLastAdjustmentOf.get(scope, kind);
    return row === undefined ? null : adjustmentOf(row);
  }

  private rateLimitEvents(scope: string, limit: number): RateLimitEventRow[] {
    return this.selectRateLimitEvents.all(scope, limit).map(rateLimitEventOf);
  }
}
