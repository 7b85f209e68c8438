import type { QueueState } from '../core/queueState.js';
import type { CalibrationSample, SampleSummary } from '../core/calibration.js';
import type { SampleCount } from '../core/calibrationReport.js';
import type { BudgetAdjustment } from '../core/controller.js';
import type { KeyOrganization } from '../core/limitGroups.js';
import type { HeartbeatRow, ProcessRole } from '../core/processLiveness.js';
import type { ReportedRemaining } from '../core/reported.js';
import type { ScopeSummaryRow } from '../core/scopeTable.js';
import type { HistoryRows } from '../core/statusHistory.js';
import type { RateLimitEventRow, StatusSnapshot } from '../core/statusReport.js';
import type { LimiterState, UsageBucket } from '../core/types.js';
import type { SnapshotLoader } from './snapshot.js';

/**
 * The storage port: what the warden, the supervisor's ledger and the reading commands need of
 * durable storage, in core's types only. Two backends implement it: store/sqlite/ (one host,
 * one file) and store/postgres/ (a fleet on one server). Nothing above store/ sees a handle or
 * SQL. Every method is asynchronous: on a server each is a round trip.
 */

export type { ProcessRole } from '../core/processLiveness.js';

export interface RequestRecord {
  id: number;
  admittedAt: number;
  bucketStart: number;
  probe: boolean;
  estInputTokens: number;
  estOutputTokens: number;
  /** The output charged against the upstream's reported limits (core/chargeRules.ts), e.g. `max_tokens`. */
  chargeOutputTokens: number;
  outcome: string;
  scope: string;
}

export type RequestOutcome = 'ok' | 'upstream-error' | 'upstream-429' | 'unreachable' | 'timeout' | 'aborted';

export interface AdmittedRequest {
  scope: string;
  admittedAt: number;
  bucketStart: number;
  method: string;
  path: string;
  probe: boolean;
  estInputTokens: number;
  estOutputTokens: number;
  /** As RequestRecord's. */
  chargeOutputTokens: number;
  workerPid: number;
}

/** What the requests still in flight are charged against the upstream's reported limits, by what each dimension counts. */
export interface InFlightTotals {
  inputTokens: number;
  outputTokens: number;
  requests: number;
}

/** The request whose answer carried a report: its id and when it was admitted. */
export interface ReportCarrier {
  id: number;
  admittedAt: number;
}

/** No request carried the report (a settle's or a test's): every request in flight counts. */
export const noCarrier: ReportCarrier = { id: 0, admittedAt: Number.MIN_SAFE_INTEGER };

/** The limiter's tables: state per scope, usage buckets, requests, events, samples, audit. */
export interface LimiterRepository {
  /** Inside `transact` this also locks the scope's row until commit (PostgreSQL: FOR UPDATE). */
  readState(scope: string): Promise<LimiterState | null>;
  createState(scope: string, state: LimiterState, now: number): Promise<void>;
  writeState(scope: string, state: LimiterState, now: number): Promise<void>;
  activeScopes(usageFrom: number, changedSince: number): Promise<string[]>;
  /** The scopes with a usage bucket starting at or after `usageFrom`, or whose state changed at or after `changedSince`: through indexes, so its cost follows what changed, not how many scopes exist. */
  touchedScopes(usageFrom: number, changedSince: number): Promise<string[]>;
  scopesOfKey(fingerprint: string): Promise<string[]>;
  /** The per-database secret that keys API-key fingerprints (made on first use). */
  fingerprintSecret(): Promise<string>;
  bucketsFrom(scope: string, oldestStart: number): Promise<UsageBucket[]>;
  bucketTotalsFrom(scope: string, oldestStart: number): Promise<UsageBucket>;
  addToBucket(scope: string, start: number, inputTokens: number, outputTokens: number, requests: number): Promise<void>;
  dailyTotalsFrom(scope: string, oldestHour: number): Promise<UsageBucket>;
  addToDaily(scope: string, hourStart: number, inputTokens: number, outputTokens: number, requests: number): Promise<void>;
  insertAdmitted(request: AdmittedRequest): Promise<number>;
  findRequest(id: number): Promise<RequestRecord | null>;
  markSettled(
    id: number,
    at: number,
    outcome: RequestOutcome,
    status: number | null,
    inputTokens: number | null,
    outputTokens: number | null,
  ): Promise<void>;
  /** The request's response head arrived at `at`: the upstream has charged it. */
  markHead(id: number, at: number): Promise<void>;
  recordRateLimitEvent(scope: string, event: RateLimitEventRow): Promise<void>;
  recordSample(scope: string, sample: CalibrationSample): Promise<void>;
  recordAdjustment(scope: string, at: number, adjustment: BudgetAdjustment): Promise<void>;
  recordAudit(at: number, action: string, actor: string, reason: string | null, detail: unknown): Promise<void>;
  addRefusalCounts(scope: string, cooldown: number, budget: number, now: number): Promise<void>;
  pruneBefore(requestsBefore: number, bucketsBefore: number, dailyBefore: number): Promise<{ requests: number; buckets: number }>;
  countZeroTokenSamples(): Promise<number>;
  deleteZeroTokenSamples(): Promise<number>;
}

/** What the upstream reported as remaining per scope and dimension, and what requests generated per model. */
export interface ReportedRepository {
  reports(scope: string): Promise<ReportedRemaining[]>;
  writeReport(scope: string, report: ReportedRemaining): Promise<void>;
  addAdmitted(scope: string, inputTokens: number, outputTokens: number, requests: number): Promise<void>;
  correctAdmitted(scope: string, deltaInput: number, deltaOutput: number): Promise<void>;
  /**
   * Without `carrier`, the request whose answer carried the report being adopted, and without
   * those whose head arrived before it was admitted: the upstream had charged them all when it
   * wrote that report.
   */
  inFlightSince(scope: string, since: number, carrier?: ReportCarrier): Promise<InFlightTotals>;
  setRequestModel(requestId: number, model: string): Promise<void>;
  requestModel(requestId: number): Promise<string | null>;
  recordOutputSample(at: number, model: string, outputTokens: number): Promise<void>;
  outputSamples(): Promise<Map<string, number[]>>;
  pruneSamplesBefore(at: number): Promise<number>;
}

/** Limit groups (core/limitGroups.ts): the learned key → organization mapping, and a key's scope joining its group. */
export interface GroupRepository {
  organizations(): Promise<KeyOrganization[]>;
  organizationOf(fingerprint: string): Promise<KeyOrganization | null>;
  learn(entry: KeyOrganization): Promise<void>;
  /** A key's scope joins a group: its usage buckets (window and daily) are added to the group's and leave it, its in-flight requests settle in the group. */
  moveUsage(from: string, to: string): Promise<void>;
}

export type SupervisorEventKind =
  | 'supervisor-started'
  | 'supervisor-stopped'
  | 'worker-started'
  | 'worker-ready'
  | 'worker-stable'
  | 'worker-failed'
  | 'worker-exited'
  | 'gave-up'
  | 'cleared';

export interface SupervisorEventInput {
  at: number;
  kind: SupervisorEventKind;
  supervisorPid: number;
  /** Which supervisor: the address it listens on (its history is its own); null for an operator's reset. */
  supervisor?: string | null;
  workerPid?: number | null;
  exitCode?: number | null;
  signal?: string | null;
  /** For worker-failed and gave-up: the failure cause's kind (exit-code, signal, readiness-timeout, liveness, spawn-error). */
  cause?: string | null;
  /** For worker-failed: the restart delay chosen; for gave-up: the delay the next start will still wait. */
  delayMs?: number | null;
  /** One sentence for people. */
  detail?: string | null;
}

export interface SupervisorEventRecord {
  id: number;
  at: number;
  kind: SupervisorEventKind;
  supervisorPid: number;
  supervisor: string | null;
  workerPid: number | null;
  exitCode: number | null;
  signal: string | null;
  cause: string | null;
  delayMs: number | null;
  detail: string | null;
}

/**
 * The supervisors' durable history. Per host: its brakes are about this host's worker, so on a
 * shared server each host reads and writes only its own rows. Per supervisor within a host (named
 * by its listen address): where a method takes `supervisor`, a name reads that supervisor's rows
 * and those that name none (written before migration 009); null reads every supervisor's.
 */
export interface SupervisorRepository {
  record(event: SupervisorEventInput): Promise<number>;
  recordAudit(at: number, action: string, actor: string, reason: string | null, detail: unknown): Promise<void>;
  /** The latest id among these kinds, of every supervisor (of this host). */
  lastIdOf(kinds: readonly SupervisorEventKind[]): Promise<number>;
  /**
   * What core folds a restart history from (foldRestartLedger), in one read: the supervisor's
   * worker-lifecycle events (started, ready, stable, failed, exited, gave-up) and every `cleared`
   * of this host, oldest first, from the earliest of: the latest worker-stable or cleared (the
   * consecutive count starts there; with none, from the first event), the latest worker-failed
   * or worker-exited (status shows it), and the first event later than `since` (the burst
   * window). What the events mean is core's; the store only bounds the read.
   */
  restartEvents(supervisor: string | null, since: number): Promise<SupervisorEventRecord[]>;
  recent(limit: number): Promise<SupervisorEventRecord[]>;
}

export interface ProcessInfo {
  role: ProcessRole;
  pid: number;
  startedAt: number;
  listen: string | null;
  upstream: string | null;
}

/** One row of `process_policies`: the policy a process started with, as it wrote it. */
export interface RecordedPolicyRow {
  role: ProcessRole;
  pid: number;
  writtenAt: number;
  /** The parsed JSON object; readers take the fields they know (see core's runningPolicy). */
  policy: Record<string, unknown>;
}

/** `processes` (heartbeats) and `process_policies`; on a shared server each row names its host. */
export interface ProcessRepository {
  /** `queue`: a worker's admission queue, written with the heartbeat for status. */
  beat(info: ProcessInfo, now: number, queue?: QueueState | null): Promise<void>;
  forget(role: ProcessRole, pid: number): Promise<void>;
  recordPolicy(role: ProcessRole, pid: number, now: number, policy: object): Promise<void>;
  policies(): Promise<RecordedPolicyRow[]>;
  /** Every host's processes, for status. */
  heartbeats(): Promise<HeartbeatRow[]>;
}

export interface SnapshotQuery {
  /** The oldest usage bucket to read (core's windowStartFor). */
  bucketsFrom: number;
  adjustments: number;
  rateLimitEvents: number;
  /** How many of the largest reservations in flight to read (over every scope); default 5. */
  reservations?: number;
}

/** What the live page's history reads: from `since`, at most so many rows of each (core's historyLimits). */
export interface HistoryQuery {
  since: number;
  adjustments: number;
  upstream429s: number;
  reservations: number;
}

export interface CalibrationData {
  sampleCounts: SampleCount[];
  sampleSummaries: SampleSummary[];
  reported: { tokens: number | null; requests: number | null };
}

/** Read-only queries for status and calibrate. */
export interface StatusRepository {
  scopeSummaries(bucketsFrom: number, changedSince: number): Promise<ScopeSummaryRow[]>;
  hasScope(scope: string): Promise<boolean>;
  snapshot(query: SnapshotQuery, scope: string): Promise<StatusSnapshot>;
  calibration(scope: string): Promise<CalibrationData>;
  calibratedScopes(): Promise<string[]>;
  /** Every scope's budget changes and 429s since `since`, the largest reservations in flight, the reported limits. */
  history(query: HistoryQuery): Promise<HistoryRows>;
}

/** Every repository, bound to one transaction. */
export interface StoreTransaction {
  /**
   * The time of this transaction, taken once at its start: the injected clock on SQLite, the
   * server's clock on PostgreSQL (so that hosts whose clocks differ agree on windows and cooldowns).
   */
  readonly now: number;
  readonly limiter: LimiterRepository;
  readonly reported: ReportedRepository;
  readonly groups: GroupRepository;
  readonly supervisor: SupervisorRepository;
  readonly processes: ProcessRepository;
  readonly status: StatusRepository;
  /** Each event's load step (snapshot.ts). */
  readonly load: SnapshotLoader;
}

export type StoreBackend = 'sqlite' | 'postgres';

export interface Store {
  readonly backend: StoreBackend;
  /** Where the data lives, safe to print: a path, or a URL without its password. */
  readonly location: string;
  /**
   * Runs one event's read-decide-write atomically: all of it commits or none of it does, and no
   * other process admits on the rows it read in between (SQLite: BEGIN IMMEDIATE; PostgreSQL:
   * row locks). On SQLite the transactions of one store run one after another, in the order
   * asked; on PostgreSQL they run side by side on its pool, so a caller that needs an order
   * awaits (or chains) its events. A store that cannot be used rejects with StoreUnavailableError.
   */
  transact<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  /** A read-only snapshot: the parts it reads agree with each other; writes nothing. */
  read<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  /**
   * Off the request path, from the ticker and the health check: the backend's upkeep (SQLite:
   * checkpoint; the file still the one opened) and a check that it can still be used. Rejects
   * with StoreUnavailableError saying why when it cannot.
   */
  maintain(): Promise<void>;
  close(): Promise<void>;
}
