import type { Database, Statement } from 'better-sqlite3';
import type { SampleKind, SampleSummary } from '../core/calibration.js';
import type { SampleCount } from '../core/calibrationReport.js';
import type { BudgetKind, GateReport } from '../core/controller.js';
import type { HeartbeatRow, ProcessRole } from '../core/processLiveness.js';
import type { AdjustmentRow, OperatorActionRow, RateLimitEventRow, StatusSnapshot } from '../core/statusReport.js';
import { LimiterStore } from './limiterStore.js';
import { PolicyStore, type RecordedPolicyRow } from './policyStore.js';
import { openDatabase } from './open.js';

export interface SnapshotQuery {
  /** The oldest usage bucket to read (core's windowStartFor). */
  bucketsFrom: number;
  adjustments: number;
  rateLimitEvents: number;
}

export interface CalibrationData {
  sampleCounts: SampleCount[];
  sampleSummaries: SampleSummary[];
  reported: { tokens: number | null; requests: number | null };
}

/**
 * Read-only queries for status and calibrate. Every read runs in one read transaction, so the
 * parts of a snapshot agree with each other while a proxy keeps writing.
 */
export class StatusView {
  private readonly limiter: LimiterStore;
  private readonly selectRefusals: Statement<[], { refused_cooldown_total: number; refused_budget_total: number }>;
  private readonly selectProcesses: Statement<[], { role: ProcessRole; pid: number; started_at: number; heartbeat_at: number; listen: string | null; upstream: string | null }>;
  private readonly selectAdjustments: Statement<[number], AdjustmentDbRow>;
  private readonly selectLastAdjustmentOf: Statement<[BudgetKind], AdjustmentDbRow>;
  private readonly selectSampleCounts: Statement<[], { kind: SampleKind; count: number; zero_tokens: number }>;
  private readonly selectRateLimitEvents: Statement<
    [number],
    {
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
  >;
  private readonly selectLastAudit: Statement<[], OperatorActionRow>;
  private readonly policies: PolicyStore;

  constructor(readonly db: Database) {
    this.limiter = new LimiterStore(db);
    this.selectRefusals = db.prepare('SELECT refused_cooldown_total, refused_budget_total FROM limiter_state WHERE id = 1');
    this.selectProcesses = db.prepare('SELECT role, pid, started_at, heartbeat_at, listen, upstream FROM processes');
    this.selectAdjustments = db.prepare('SELECT at, kind, from_value, to_value, reason, gates, detail FROM budget_adjustments ORDER BY id DESC LIMIT ?');
    this.selectLastAdjustmentOf = db.prepare(
      'SELECT at, kind, from_value, to_value, reason, gates, detail FROM budget_adjustments WHERE kind = ? ORDER BY id DESC LIMIT 1',
    );
    this.selectSampleCounts = db.prepare(
      'SELECT kind, COUNT(*) AS count, COALESCE(SUM(tokens = 0), 0) AS zero_tokens FROM calibration_samples GROUP BY kind',
    );
    this.selectRateLimitEvents = db.prepare(
      `SELECT at, request_id, retry_after_ms, consecutive_429s, backoff_level, escalated, cooldown_ms, cooldown_until, window_tokens, window_requests
       FROM rate_limit_events ORDER BY at DESC, id DESC LIMIT ?`,
    );
    this.selectLastAudit = db.prepare('SELECT at, action, actor, reason FROM audit_log ORDER BY id DESC LIMIT 1');
    this.policies = new PolicyStore(db);
  }

  /** Never creates, migrates or writes: a missing file is a StoreError naming it. */
  static openReadonly(path: string): StatusView {
    return new StatusView(openDatabase(path, { readonly: true }));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  snapshot(query: SnapshotQuery): StatusSnapshot {
    return this.db.transaction((): StatusSnapshot => {
      const refusals = this.selectRefusals.get();
      return {
        state: this.limiter.readState(),
        buckets: this.limiter.bucketsFrom(query.bucketsFrom),
        refusals: { cooldown: refusals?.refused_cooldown_total ?? 0, budget: refusals?.refused_budget_total ?? 0 },
        processes: this.processes(),
        adjustments: this.selectAdjustments.all(query.adjustments).map(adjustmentOf),
        lastAdjustmentByKind: {
          tokens: this.lastAdjustmentOf('tokens'),
          requests: this.lastAdjustmentOf('requests'),
        },
        ...this.readCalibration(),
        rateLimitEvents: this.rateLimitEvents(query.rateLimitEvents),
        lastOperatorAction: this.selectLastAudit.get() ?? null,
      };
    }).deferred();
  }

  /**
   * The policies the processes recorded when they started, with their heartbeats: what a reading
   * command needs to pick the running proxy's policy before it reads anything that depends on it.
   */
  recordedPolicies(): { policies: RecordedPolicyRow[]; processes: HeartbeatRow[] } {
    return this.db.transaction(() => ({ policies: this.policies.all(), processes: this.processes() })).deferred();
  }

  calibration(): CalibrationData {
    return this.db.transaction((): CalibrationData => {
      const state = this.limiter.readState();
      return { ...this.readCalibration(), reported: { tokens: state.reportedTokenLimit, requests: state.reportedRequestLimit } };
    }).deferred();
  }

  private readCalibration(): Pick<CalibrationData, 'sampleCounts' | 'sampleSummaries'> {
    return {
      sampleCounts: this.selectSampleCounts.all().map((row) => ({ kind: row.kind, count: row.count, zeroTokens: row.zero_tokens })),
      sampleSummaries: this.limiter.sampleSummaries(),
    };
  }

  private processes(): HeartbeatRow[] {
    return this.selectProcesses.all().map((row) => ({
      role: row.role,
      pid: row.pid,
      startedAt: row.started_at,
      heartbeatAt: row.heartbeat_at,
      listen: row.listen,
      upstream: row.upstream,
    }));
  }

  private lastAdjustmentOf(kind: BudgetKind): AdjustmentRow | null {
    const row = this.selectLastAdjustmentOf.get(kind);
    return row === undefined ? null : adjustmentOf(row);
  }

  private rateLimitEvents(limit: number): RateLimitEventRow[] {
    return this.selectRateLimitEvents.all(limit).map((row) => ({
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
    }));
  }
}

interface AdjustmentDbRow {
  at: number;
  kind: BudgetKind;
  from_value: number | null;
  to_value: number | null;
  reason: string;
  gates: string | null;
  detail: string;
}

function adjustmentOf(row: AdjustmentDbRow): AdjustmentRow {
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
