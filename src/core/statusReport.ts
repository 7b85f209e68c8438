import { calibrationReport, type CalibrationReport, type SampleCount } from './calibrationReport.js';
import type { SampleSummary } from './calibration.js';
import type { BudgetKind, GateReport } from './controller.js';
import { cooldownPhase } from './cooldown.js';
import { budgetReport, controllerReport, cooldownReport, probeReport } from './limiterStatus.js';
import {
  fleetProcesses,
  processStatus,
  type FleetProcess,
  type HeartbeatRow,
  type LivenessInput,
  type ProcessRole,
  type ProcessStatus,
} from './processLiveness.js';
import { fleetQueue, type QueueState } from './queueState.js';
import type { RestartPolicy } from './restartPolicy.js';
import { scopeLabel } from './scopeLabel.js';
import { defaultScope } from './scopes.js';
import { scopeLines, type ScopeLine, type ScopeSummaryRow } from './scopeTable.js';
import type { PolicyOrigin } from './runningPolicy.js';
import type { LiveView, StatusHistory } from './statusHistory.js';
import { supervisorHistoryReport, type RestartHistoryView, type SupervisorHistoryReport } from './supervisorReport.js';
import type { LimiterPolicy, LimiterState, TokenMetric, UsageBucket } from './types.js';
import { bucketWidthFor, oldestBucketInWindow, sumWindow } from './window.js';

/** Bump when a field of StatusReport changes meaning or disappears (adding fields does not). */
export const statusFormatVersion = 1;

export interface AdjustmentRow {
  at: number;
  kind: BudgetKind;
  from: number | null;
  to: number | null;
  reason: string;
  gates: GateReport | null;
  detail: string;
}

/** A budget below its known-good level, and the last cut (from `budget_adjustments`) when it is among those read. */
export interface CutInForce {
  budget: number;
  knownGood: number;
  cut: AdjustmentRow | null;
}

export interface RateLimitEventRow {
  at: number;
  requestId: number | null;
  retryAfterMs: number | null;
  consecutive429s: number;
  backoffLevel: number;
  escalated: boolean;
  cooldownMs: number;
  cooldownUntil: number;
  windowTokens: number;
  windowRequests: number;
}

/** A request admitted and not yet settled: what it holds of its scope's budget (status's "largest reservations"). */
export interface ReservationRow {
  requestId: number;
  scope: string;
  model: string | null;
  admittedAt: number;
  inputTokens: number;
  outputTokens: number;
}

export interface OperatorActionRow {
  at: number;
  action: string;
  actor: string;
  reason: string | null;
}

/** Everything status reads from the database, in one read transaction. */
export interface StatusSnapshot {
  state: LimiterState;
  /** The usage buckets from `windowStartFor(now, policy)` on. */
  buckets: UsageBucket[];
  refusals: { cooldown: number; budget: number };
  processes: HeartbeatRow[];
  /** Newest first. */
  adjustments: AdjustmentRow[];
  lastAdjustmentByKind: { tokens: AdjustmentRow | null; requests: AdjustmentRow | null };
  sampleCounts: SampleCount[];
  sampleSummaries: SampleSummary[];
  /** Newest first. */
  rateLimitEvents: RateLimitEventRow[];
  lastOperatorAction: OperatorActionRow | null;
  /** The largest reservations in flight, over every scope, largest first. */
  reservations?: ReservationRow[];
}

export interface StatusInput {
  database: string;
  snapshot: StatusSnapshot;
  now: number;
  policy: LimiterPolicy;
  restartHistory: RestartHistoryView;
  startLimit: { startLimitBurst: number; startLimitIntervalMs: number };
  /** Where `policy` and `restartPolicy` came from (core's runningPolicy). */
  policyOrigins: { worker: PolicyOrigin; supervisor: PolicyOrigin };
  restartPolicy: RestartPolicy;
  configuredUpstream: string | null;
  heartbeatStaleAfterMs: Readonly<Record<ProcessRole, number>>;
  /** This host's pids that are alive (only this host's rows are judged by them). */
  livePids: ReadonlySet<number>;
  /** The name this host's rows carry on a store shared by hosts; unset on SQLite. */
  thisHost?: string;
  /** The scope the detail (window, budget, cooldown, controller, calibration) is of; `default` when unset. */
  scope?: string;
  /** Every active scope, for the table at a glance. */
  scopeRows?: readonly ScopeSummaryRow[];
  /** The last hour's budget changes, 429s, reservations in flight and reports (the live page's charts). */
  history?: StatusHistory;
  /** What only the running proxy knows (its queue), when the proxy itself answers. */
  live?: LiveView;
}

export type GateSet = GateReport & { allOpen: boolean };

/** The object `ratewarden status --json` prints; docs/operator.md documents every field. */
export interface StatusReport {
  formatVersion: number;
  generatedAt: number;
  database: string;
  /** The host this report was made on, as its rows name it; `null` on a store of one host (SQLite). */
  host: string | null;
  upstream: { url: string | null; from: 'worker' | 'configuration' | 'last-worker' | 'none' };
  /** The scope every per-scope field below is of: `--scope`, else the busiest. */
  scope: string;
  /** Every active scope, trouble first (cooling, half-open, queued), then the busiest. */
  scopes: ScopeLine[];
  /** Requests waiting in the running workers' queues (from their last heartbeats), the longest queues first. */
  queue: QueueState;
  /** The largest reservations in flight over every scope, largest first. */
  reservations: (ReservationRow & { label: string; ageMs: number })[];
  /** Every upstream a running worker forwards to (each worker's heartbeat), or the configured one. */
  upstreams: string[];
  /** The policies every other field was computed with: the running processes' own, as they recorded them. */
  policy: { worker: PolicyOrigin & { values: LimiterPolicy }; supervisor: PolicyOrigin & { values: RestartPolicy } };
  /** This host's worker and supervisor (on PostgreSQL the other hosts' are in `processes`). */
  worker: ProcessStatus;
  supervisor: ProcessStatus & SupervisorHistoryReport;
  /** Every host's processes, from their heartbeats: this host's first. */
  processes: FleetProcess[];
  window: { lengthMs: number; tokenMetric: TokenMetric; tokensUsed: number; requestsUsed: number };
  budget: {
    tokens: number | null;
    requests: number | null;
    configuredTokens: number | null;
    configuredRequests: number | null;
    reportedTokenLimit: number | null;
    reportedRequestLimit: number | null;
    tokenCeiling: number | null;
    requestCeiling: number | null;
    /** The level recovery returns to (controller's knownGood). */
    knownGoodTokens: number | null;
    knownGoodRequests: number | null;
    /** Each budget a 429 cut that has not healed yet: below known-good, with the cut that did it. */
    cuts: { tokens: CutInForce | null; requests: CutInForce | null };
  };
  cooldown: {
    active: boolean;
    phase: 'closed' | 'cooling' | 'half-open';
    remainingMs: number;
    until: number | null;
    startedAt: number | null;
    backoffLevel: number;
    consecutive429s: number;
    /** What the next escalating upstream 429 would start, before jitter and Retry-After. */
    nextCooldownMs: number;
    last429At: number | null;
  };
  consecutive429s: number;
  probe: {
    halfOpen: boolean;
    inFlight: boolean;
    requestId: number | null;
    startedAt: number | null;
    ageMs: number | null;
    timeoutMs: number;
  };
  controller: {
    lastAdjustment: AdjustmentRow | null;
    lastAdjustmentByKind: { tokens: AdjustmentRow | null; requests: AdjustmentRow | null };
    recentAdjustments: AdjustmentRow[];
    gates: { tokens: GateSet; requests: GateSet };
  };
  calibration: CalibrationReport;
  refusals: { cooldown: number; budget: number };
  recent429s: RateLimitEventRow[];
  lastOperatorAction: OperatorActionRow | null;
  /** Every scope's last hour: budget changes, upstream 429s, the largest reservations in flight, reported limits. */
  history: StatusHistory | null;
  /** The queue of the proxy that answered (the live page it serves); `null` from the CLI. */
  live: LiveView | null;
}

/** The oldest usage bucket status must read for the window at `now`. */
export function windowStartFor(now: number, policy: Pick<LimiterPolicy, 'windowMs'>): number {
  return oldestBucketInWindow(now, policy.windowMs, bucketWidthFor(policy.windowMs));
}

function upstreamOf(worker: ProcessStatus, configured: string | null): StatusReport['upstream'] {
  if (worker.running && worker.upstream !== null) return { url: worker.upstream, from: 'worker' };
  if (configured !== null) return { url: configured, from: 'configuration' };
  if (worker.upstream !== null) return { url: worker.upstream, from: 'last-worker' };
  return { url: null, from: 'none' };
}

/** The queues of the workers whose heartbeat is fresh: a stopped or hung worker's last queue is no longer waiting. */
export function queueOfRunningWorkers(
  rows: readonly HeartbeatRow[],
  now: number,
  staleAfterMs: Readonly<Record<ProcessRole, number>>,
): QueueState {
  const fresh = rows.filter((row) => row.role === 'worker' && now - row.heartbeatAt <= staleAfterMs.worker);
  return fleetQueue(
    fresh.map((row) => ({ queue: row.queue ?? null, heartbeatAt: row.heartbeatAt })),
    now,
  );
}

export function assembleStatus(input: StatusInput): StatusReport {
  const { snapshot, now } = input;
  const { state } = snapshot;
  // The budgets the running proxy adopted, rather than whatever this command was given: the
  // ceilings and gates are the proxy's.
  const policy: LimiterPolicy = { ...input.policy, tokenBudget: state.configuredTokenBudget, requestBudget: state.configuredRequestBudget };
  const fleet = fleetOf(input);
  const usage = sumWindow(snapshot.buckets, policy.tokenMetric);
  const breaker = cooldownPhase(state, now, policy);
  const queue = queueOfRunningWorkers(snapshot.processes, now, input.heartbeatStaleAfterMs);
  return {
    formatVersion: statusFormatVersion,
    generatedAt: now,
    database: input.database,
    host: input.thisHost ?? null,
    upstream: fleet.upstream,
    scope: input.scope ?? defaultScope,
    scopes: scopeLines(input.scopeRows ?? [], now, policy, queue),
    queue,
    reservations: (snapshot.reservations ?? []).map((row) => ({
      ...row,
      label: scopeLabel(row.scope),
      ageMs: Math.max(0, now - row.admittedAt),
    })),
    upstreams: fleet.upstreams,
    policy: {
      worker: { ...input.policyOrigins.worker, values: input.policy },
      supervisor: { ...input.policyOrigins.supervisor, values: input.restartPolicy },
    },
    worker: fleet.worker,
    supervisor: { ...processStatus('supervisor', fleet.liveness), ...supervisorHistoryReport(input.restartHistory, input.startLimit) },
    processes: fleet.processes,
    window: { lengthMs: policy.windowMs, tokenMetric: policy.tokenMetric, tokensUsed: usage.tokens, requestsUsed: usage.requests },
    budget: budgetReport(state, policy, snapshot),
    cooldown: cooldownReport(state, breaker, policy),
    consecutive429s: state.consecutive429s,
    probe: probeReport(state, breaker, now, policy),
    controller: controllerReport(snapshot, usage, now, policy),
    calibration: calibrationReport(snapshot.sampleCounts, snapshot.sampleSummaries, {
      tokens: state.reportedTokenLimit,
      requests: state.reportedRequestLimit,
    }),
    refusals: snapshot.refusals,
    recent429s: snapshot.rateLimitEvents,
    lastOperatorAction: snapshot.lastOperatorAction,
    history: input.history ?? null,
    live: input.live ?? null,
  };
}

/** The processes from their heartbeats, and the upstream they serve. */
function fleetOf(input: StatusInput): {
  liveness: LivenessInput;
  worker: ProcessStatus;
  processes: FleetProcess[];
  upstream: StatusReport['upstream'];
  upstreams: string[];
} {
  const liveness: LivenessInput = {
    rows: input.snapshot.processes,
    now: input.now,
    staleAfterMs: input.heartbeatStaleAfterMs,
    livePids: input.livePids,
    thisHost: input.thisHost,
  };
  const worker = processStatus('worker', liveness);
  const processes = fleetProcesses(liveness);
  // With none running here, a worker running on another host still tells the fleet's upstream.
  const upstreamWorker = worker.running ? worker : (processes.find((process) => process.role === 'worker' && process.running) ?? worker);
  const upstream = upstreamOf(upstreamWorker, input.configuredUpstream);
  const runningUpstreams = processes
    .filter((process) => process.role === 'worker' && process.running && process.upstream !== null)
    .map((process) => process.upstream as string);
  const upstreams = runningUpstreams.length > 0 ? [...new Set(runningUpstreams)] : upstream.url === null ? [] : [upstream.url];
  return { liveness, worker, processes, upstream, upstreams };
}
