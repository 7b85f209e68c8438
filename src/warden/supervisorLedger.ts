import type { Database } from 'better-sqlite3';
import { formatDuration } from '../config/durations.js';
import {
  burstLimitReachable,
  decideRestart,
  emptyRestartHistory,
  failuresWithin,
  restartDelayMs,
  startDelayMs,
  type FailureCause,
  type RestartDecision,
  type RestartHistory,
  type RestartPolicy,
} from '../core/restartPolicy.js';
import { isStoreWriteFailure } from '../store/errors.js';
import { openDatabase, type Durability } from '../store/open.js';
import { SupervisorStore, workerLifecycleKinds, type SupervisorEventRecord } from '../store/supervisorStore.js';
import { StoreUnavailableError } from './errors.js';
import type { Clock } from '../kernel/clock.js';

export interface SupervisorLedgerOptions {
  dbPath: string;
  policy: RestartPolicy;
  clock: Clock;
  durability?: Durability;
  busyTimeoutMs?: number;
  /** The supervisor's pid, written with every event. */
  pid?: number;
  /** Operator commands: refuse a missing database instead of creating one. */
  mustExist?: boolean;
}

export interface SupervisorStart {
  history: RestartHistory;
  /** What is left of the delay an earlier supervisor's last failure asked for. */
  startDelayMs: number;
  failuresInInterval: number;
  /** The supervisor-started event; a `cleared` event after it cuts the start delay short. */
  eventId: number;
}

export interface RecordedFailure {
  decision: Extract<RestartDecision, { kind: 'restart' } | { kind: 'give-up' }>;
  /** The worker-failed event; a `cleared` event after it cuts a pending restart delay short. */
  eventId: number;
}

export interface ClearedRestarts {
  failuresInInterval: number;
  consecutiveFailures: number;
  gaveUp: boolean;
  restartWasDue: boolean;
  /** False when there was nothing to clear (the event and the audit row are written anyway). */
  anything: boolean;
}

/** What `ratewarden status` shows about the supervisor; read-only. */
export interface RestartSummary {
  failuresInInterval: number;
  consecutiveFailures: number;
  /** The delay the next failure would get. */
  nextRestartDelayMs: number;
  /** How long until a due restart (0 when none is due or it is overdue: a supervisor would start now). */
  restartDueInMs: number;
  gaveUp: boolean;
  burstLimitReachable: boolean;
  /** The latest worker-failed or worker-exited event. */
  lastExit: SupervisorEventRecord | null;
}

/**
 * The supervisor's durable restart history: one method per event, each one IMMEDIATE
 * transaction. Failures are decided inside their transaction from the history as recorded, so
 * a new supervisor on the same database continues the consecutive count, the delay and the
 * burst window of the one before.
 */
export class SupervisorLedger {
  private readonly store: SupervisorStore;
  private readonly pid: number;

  private constructor(
    readonly db: Database,
    readonly policy: RestartPolicy,
    private readonly clock: Clock,
    pid: number,
  ) {
    this.store = new SupervisorStore(db);
    this.pid = pid;
  }

  static open(options: SupervisorLedgerOptions): SupervisorLedger {
    const db = openDatabase(options.dbPath, { durability: options.durability ?? 'normal', busyTimeoutMs: options.busyTimeoutMs, mustExist: options.mustExist ?? false });
    return new SupervisorLedger(db, options.policy, options.clock, options.pid ?? process.pid);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  supervisorStarted(detail: string): SupervisorStart {
    return this.transaction((now) => {
      const history = readHistory(this.store, now, this.policy);
      const eventId = this.store.record({ at: now, kind: 'supervisor-started', supervisorPid: this.pid, detail });
      return { history, startDelayMs: startDelayMs(history, now, this.policy), failuresInInterval: failuresWithin(history.failureTimes, now, this.policy).length, eventId };
    });
  }

  supervisorStopped(detail: string): void {
    this.transaction((now) => this.store.record({ at: now, kind: 'supervisor-stopped', supervisorPid: this.pid, detail }));
  }

  workerStarted(workerPid: number | null, detail: string): void {
    this.transaction((now) => this.store.record({ at: now, kind: 'worker-started', supervisorPid: this.pid, workerPid, detail }));
  }

  workerReady(workerPid: number | null, url: string): void {
    this.transaction((now) => this.store.record({ at: now, kind: 'worker-ready', supervisorPid: this.pid, workerPid, detail: url }));
  }

  /** Ready for stable-after: the consecutive count starts again from zero. */
  workerStable(workerPid: number | null): void {
    this.transaction((now) => this.store.record({ at: now, kind: 'worker-stable', supervisorPid: this.pid, workerPid, detail: `ready for ${formatDuration(this.policy.stableAfterMs)}` }));
  }

  /** Status 0 without being asked: no restart. */
  workerExited(workerPid: number | null): void {
    this.transaction((now) => this.store.record({ at: now, kind: 'worker-exited', supervisorPid: this.pid, workerPid, exitCode: 0, detail: 'exit code 0' }));
  }

  /** Records the failure and decides, in the same transaction: restart after a delay, or give up. */
  workerFailed(workerPid: number | null, cause: FailureCause, causeDetail: string): RecordedFailure {
    return this.transaction((now) => {
      const history = readHistory(this.store, now, this.policy);
      const { decision } = decideRestart(history, { kind: 'failure', cause }, now, this.policy);
      if (decision.kind !== 'restart' && decision.kind !== 'give-up') throw new Error(`a failure cannot lead to ${decision.kind}`);
      const failure = {
        at: now,
        supervisorPid: this.pid,
        workerPid,
        exitCode: cause.kind === 'exit-code' ? cause.exitCode : null,
        signal: cause.kind === 'signal' ? cause.signal : null,
        cause: cause.kind,
      };
      const eventId = this.store.record({ ...failure, kind: 'worker-failed', delayMs: decision.kind === 'restart' ? decision.delayMs : null, detail: causeDetail });
      if (decision.kind === 'give-up') {
        this.store.record({
          ...failure,
          kind: 'gave-up',
          delayMs: restartDelayMs(decision.consecutiveFailures, this.policy),
          detail: `${decision.failuresInInterval} failures within ${formatDuration(this.policy.startLimitIntervalMs)}; last: ${causeDetail}`,
        });
      }
      return { decision, eventId };
    });
  }

  /**
   * The operator's reset after fixing the cause: the consecutive count, the pending delay and the
   * burst window start from nothing. Written to audit_log with who and why.
   */
  clear(actor: string, reason: string | null): ClearedRestarts {
    return this.transaction((now) => {
      const history = readHistory(this.store, now, this.policy);
      const latest = this.store.latestOf(workerLifecycleKinds);
      const failuresInInterval = failuresWithin(history.failureTimes, now, this.policy).length;
      const cleared = {
        failuresInInterval,
        consecutiveFailures: history.consecutiveFailures,
        gaveUp: latest?.kind === 'gave-up',
        restartWasDue: startDelayMs(history, now, this.policy) > 0,
        anything: history.failureTimes.length > 0 || history.consecutiveFailures > 0,
      };
      this.store.record({ at: now, kind: 'cleared', supervisorPid: this.pid, detail: reason === null ? `cleared by ${actor}` : `cleared by ${actor}: ${reason}` });
      this.store.recordAudit(now, 'reset-restarts', actor, reason, cleared);
      return cleared;
    });
  }

  /** Whether an operator cleared the history after this event (read-only). */
  clearedAfter(eventId: number): boolean {
    return this.store.lastIdOf(['cleared']) > eventId;
  }

  summary(): RestartSummary {
    return readRestartSummary(this.db, this.policy, this.clock());
  }

  private transaction<T>(work: (now: number) => T): T {
    const now = this.clock();
    try {
      return this.db.transaction(() => work(now)).immediate();
    } catch (error) {
      if (isStoreWriteFailure(error)) throw new StoreUnavailableError(`the supervisor's history cannot be written (${(error as Error).message})`);
      throw error;
    }
  }
}

/** The restart history as recorded: failures since the last clear, the count since the last stable run. */
function readHistory(store: SupervisorStore, now: number, policy: RestartPolicy): RestartHistory {
  const clearedId = store.lastIdOf(['cleared']);
  const stableId = store.lastIdOf(['worker-stable', 'cleared']);
  const latest = store.latestOf(workerLifecycleKinds);
  if (latest === null) return emptyRestartHistory;
  return {
    failureTimes: store.failureTimesSince(clearedId, now - policy.startLimitIntervalMs),
    consecutiveFailures: store.failuresSince(stableId),
    pendingFailureAt: latest.kind === 'worker-failed' || latest.kind === 'gave-up' ? latest.at : null,
  };
}

/** For status: works on a read-only connection, writes nothing. */
export function readRestartSummary(db: Database, policy: RestartPolicy, now: number): RestartSummary {
  const store = new SupervisorStore(db);
  return db.transaction(() => {
    const history = readHistory(store, now, policy);
    return {
      failuresInInterval: failuresWithin(history.failureTimes, now, policy).length,
      consecutiveFailures: history.consecutiveFailures,
      nextRestartDelayMs: restartDelayMs(history.consecutiveFailures + 1, policy),
      restartDueInMs: startDelayMs(history, now, policy),
      gaveUp: store.latestOf(workerLifecycleKinds)?.kind === 'gave-up',
      burstLimitReachable: burstLimitReachable(policy).reachable,
      lastExit: store.latestOf(['worker-failed', 'worker-exited']),
    };
  })();
}
