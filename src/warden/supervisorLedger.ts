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
import type { Store, StoreTransaction, SupervisorEventKind, SupervisorEventRecord, SupervisorRepository } from '../store/port.js';

export interface SupervisorLedgerOptions {
  /** The ledger owns it from here on: close() closes it. */
  store: Store;
  policy: RestartPolicy;
  /** The supervisor's pid, written with every event. */
  pid?: number;
}

/** Every event of a worker's life; the latest of them tells whether a restart is pending or the supervisor gave up. */
export const workerLifecycleKinds: readonly SupervisorEventKind[] = ['worker-started', 'worker-ready', 'worker-stable', 'worker-failed', 'worker-exited', 'gave-up', 'cleared'];

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
 * The supervisor's durable restart history: one method per event, each one transaction of the
 * store. Failures are decided inside their transaction from the history as recorded, so a new
 * supervisor on the same store continues the consecutive count, the delay and the burst window
 * of the one before.
 */
export class SupervisorLedger {
  private readonly pid: number;
  private readonly store: Store;
  readonly policy: RestartPolicy;
  /** The last event asked for: each waits for it (see inOrder). */
  private previous: Promise<unknown> = Promise.resolve();

  constructor(options: SupervisorLedgerOptions) {
    this.store = options.store;
    this.policy = options.policy;
    this.pid = options.pid ?? process.pid;
  }

  /** Where the history lives, safe to print. */
  get location(): string {
    return this.store.location;
  }

  /** After every event already asked for. */
  close(): Promise<void> {
    return this.store.close();
  }

  /**
   * One event after another, in the order the supervisor asked for them, on any backend (a
   * PostgreSQL store runs transactions side by side on its pool): a worker-stable asked before a
   * worker-failed must get the lower id, or the failure count would restart from it.
   */
  private inOrder<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    const next = this.previous.then(() => this.store.transact(work));
    this.previous = next.catch(() => undefined);
    return next;
  }

  supervisorStarted(detail: string): Promise<SupervisorStart> {
    return this.inOrder(async ({ now, supervisor }) => {
      const history = await readHistory(supervisor, now, this.policy);
      const eventId = await supervisor.record({ at: now, kind: 'supervisor-started', supervisorPid: this.pid, detail });
      return { history, startDelayMs: startDelayMs(history, now, this.policy), failuresInInterval: failuresWithin(history.failureTimes, now, this.policy).length, eventId };
    });
  }

  async supervisorStopped(detail: string): Promise<void> {
    await this.inOrder(({ now, supervisor }) => supervisor.record({ at: now, kind: 'supervisor-stopped', supervisorPid: this.pid, detail }));
  }

  async workerStarted(workerPid: number | null, detail: string): Promise<void> {
    await this.inOrder(({ now, supervisor }) => supervisor.record({ at: now, kind: 'worker-started', supervisorPid: this.pid, workerPid, detail }));
  }

  async workerReady(workerPid: number | null, url: string): Promise<void> {
    await this.inOrder(({ now, supervisor }) => supervisor.record({ at: now, kind: 'worker-ready', supervisorPid: this.pid, workerPid, detail: url }));
  }

  /** Ready for stable-after: the consecutive count starts again from zero. */
  async workerStable(workerPid: number | null): Promise<void> {
    await this.inOrder(({ now, supervisor }) => supervisor.record({ at: now, kind: 'worker-stable', supervisorPid: this.pid, workerPid, detail: `ready for ${formatDuration(this.policy.stableAfterMs)}` }));
  }

  /** Status 0 without being asked: no restart. */
  async workerExited(workerPid: number | null): Promise<void> {
    await this.inOrder(({ now, supervisor }) => supervisor.record({ at: now, kind: 'worker-exited', supervisorPid: this.pid, workerPid, exitCode: 0, detail: 'exit code 0' }));
  }

  /** Records the failure and decides, in the same transaction: restart after a delay, or give up. */
  workerFailed(workerPid: number | null, cause: FailureCause, causeDetail: string): Promise<RecordedFailure> {
    return this.inOrder(async ({ now, supervisor }) => {
      const history = await readHistory(supervisor, now, this.policy);
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
      const eventId = await supervisor.record({ ...failure, kind: 'worker-failed', delayMs: decision.kind === 'restart' ? decision.delayMs : null, detail: causeDetail });
      if (decision.kind === 'give-up') {
        await supervisor.record({
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
  clear(actor: string, reason: string | null): Promise<ClearedRestarts> {
    return this.inOrder(async ({ now, supervisor }) => {
      const history = await readHistory(supervisor, now, this.policy);
      const latest = await supervisor.latestOf(workerLifecycleKinds);
      const failuresInInterval = failuresWithin(history.failureTimes, now, this.policy).length;
      const cleared = {
        failuresInInterval,
        consecutiveFailures: history.consecutiveFailures,
        gaveUp: latest?.kind === 'gave-up',
        restartWasDue: startDelayMs(history, now, this.policy) > 0,
        anything: history.failureTimes.length > 0 || history.consecutiveFailures > 0,
      };
      await supervisor.record({ at: now, kind: 'cleared', supervisorPid: this.pid, detail: reason === null ? `cleared by ${actor}` : `cleared by ${actor}: ${reason}` });
      await supervisor.recordAudit(now, 'reset-restarts', actor, reason, cleared);
      return cleared;
    });
  }

  /** Whether an operator cleared the history after this event (read-only). */
  async clearedAfter(eventId: number): Promise<boolean> {
    return (await this.store.read(({ supervisor }) => supervisor.lastIdOf(['cleared']))) > eventId;
  }

  summary(): Promise<RestartSummary> {
    return readRestartSummary(this.store, this.policy);
  }
}

/** The restart history as recorded: failures since the last clear, the count since the last stable run. */
async function readHistory(supervisor: SupervisorRepository, now: number, policy: RestartPolicy): Promise<RestartHistory> {
  const clearedId = await supervisor.lastIdOf(['cleared']);
  const stableId = await supervisor.lastIdOf(['worker-stable', 'cleared']);
  const latest = await supervisor.latestOf(workerLifecycleKinds);
  if (latest === null) return emptyRestartHistory;
  return {
    failureTimes: await supervisor.failureTimesSince(clearedId, now - policy.startLimitIntervalMs),
    consecutiveFailures: await supervisor.failuresSince(stableId),
    pendingFailureAt: latest.kind === 'worker-failed' || latest.kind === 'gave-up' ? latest.at : null,
  };
}

/** For status and the metrics: one read of the store (a read-only one will do), writes nothing; the time is the read's. */
export function readRestartSummary(store: Store, policy: RestartPolicy): Promise<RestartSummary> {
  return store.read((tx) => restartSummaryIn(tx, policy));
}

/** The same, inside a read the caller already holds (a store runs one at a time: never nest a read in another). */
export async function restartSummaryIn({ now, supervisor }: StoreTransaction, policy: RestartPolicy): Promise<RestartSummary> {
  const history = await readHistory(supervisor, now, policy);
  return {
    failuresInInterval: failuresWithin(history.failureTimes, now, policy).length,
    consecutiveFailures: history.consecutiveFailures,
    nextRestartDelayMs: restartDelayMs(history.consecutiveFailures + 1, policy),
    restartDueInMs: startDelayMs(history, now, policy),
    gaveUp: (await supervisor.latestOf(workerLifecycleKinds))?.kind === 'gave-up',
    burstLimitReachable: burstLimitReachable(policy).reachable,
    lastExit: await supervisor.latestOf(['worker-failed', 'worker-exited']),
  };
}
