import { formatDuration } from '../kernel/durations.js';
import type { Clock } from '../kernel/clock.js';
import { whatAClearWipes, type ClearedRestarts } from '../core/restartLedger.js';
import { readRecord, readRestartSummary, type RestartSummary } from './restartSummary.js';
import {
  decideRestart,
  emptyRestartHistory,
  failuresWithin,
  restartDelayMs,
  startDelayMs,
  type FailureCause,
  type RestartDecision,
  type RestartHistory,
  type RestartPolicy,
  type WorkerEvent,
} from '../core/restartPolicy.js';
import type { Store, StoreTransaction, SupervisorEventInput } from '../store/port.js';

export type { ClearedRestarts } from '../core/restartLedger.js';

export interface SupervisorLedgerOptions {
  /** The ledger owns it from here on: close() closes it. */
  store: Store;
  policy: RestartPolicy;
  /** The supervisor's pid, written with every event. */
  pid?: number;
  /**
   * Which supervisor this is: the address it listens on. Its restart history is its own; another
   * supervisor on the same database (another address) keeps another. Null: every supervisor's
   * (an operator's reset, which clears them all).
   */
  name?: string | null;
  /** The time of events the store could not take when they happened (default Date.now). */
  clock?: Clock;
  /** Told when an event could not be written now, or when those kept were written later. */
  onStoreTrouble?: (message: string) => void;
}

/** Events kept in memory while the store is away; the oldest go first beyond this (a give-up comes long before). */
const maxUnwritten = 200;

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
  /** The worker-failed event (or, when kept in memory, the last one written); a `cleared` event after it cuts a pending restart delay short. */
  eventId: number;
  /** False: the store was away; the decision came from the history in memory and the events wait to be written. */
  durable: boolean;
}

/**
 * A supervisor's durable restart history: one method per event, each one transaction of the
 * store. Failures are decided inside their transaction from the history as recorded, so a new
 * supervisor on the same address and store continues the consecutive count, the delay and the
 * burst window of the one before.
 *
 * Best effort when the store is away (a locked SQLite file, a PostgreSQL server down): the
 * supervisor must go on supervising, so an event that cannot be written is kept in memory, a
 * failure is decided from the history as last known plus what happened since, and what was kept
 * is written, in order and before anything newer, by the next transaction that succeeds.
 */
export class SupervisorLedger {
  private readonly pid: number;
  private readonly store: Store;
  private readonly name: string | null;
  private readonly clock: Clock;
  private readonly onStoreTrouble: (message: string) => void;
  readonly policy: RestartPolicy;
  /** The last event asked for: each waits for it (see inOrder). */
  private previous: Promise<unknown> = Promise.resolve();
  /** Events the store could not take yet, oldest first. */
  private readonly unwritten: SupervisorEventInput[] = [];
  /** The history as of the latest event, written or not: what a failure is decided from while the store is away. */
  private known: RestartHistory = emptyRestartHistory;
  /** The id of the latest event written. */
  private lastWrittenId = 0;

  constructor(options: SupervisorLedgerOptions) {
    this.store = options.store;
    this.policy = options.policy;
    this.pid = options.pid ?? process.pid;
    this.name = options.name ?? null;
    this.clock = options.clock ?? Date.now;
    this.onStoreTrouble = options.onStoreTrouble ?? (() => undefined);
  }

  /** How many events wait to be written. */
  get unwrittenCount(): number {
    return this.unwritten.length;
  }

  /** Where the history lives, safe to print. */
  get location(): string {
    return this.store.location;
  }

  /** After every event already asked for; those the store never took are told to onStoreTrouble. */
  async close(): Promise<void> {
    await this.previous;
    if (this.unwritten.length > 0)
      this.onStoreTrouble(`${this.unwritten.length} supervisor events could not be written before the stop and are lost`);
    await this.store.close();
  }

  /**
   * One event after another, in the order the supervisor asked for them, on any backend (a
   * PostgreSQL store runs transactions side by side on its pool): a worker-stable asked before a
   * worker-failed must get the lower id, or the failure count would restart from it. Events kept
   * from while the store was away are written first, in the same transaction.
   */
  private inOrder<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    const next = this.previous
      .then(() =>
        this.store.transact(async (tx) => {
          const kept = [...this.unwritten];
          let lastId = 0;
          for (const event of kept) lastId = await tx.supervisor.record(event);
          const result = await work(tx);
          return { result, kept, lastId };
        }),
      )
      .then(({ result, kept, lastId }) => {
        // Committed: what was kept is in the store now.
        this.unwritten.splice(0, kept.length);
        if (kept.length > 0) this.onStoreTrouble(`the store is back: ${kept.length} supervisor events kept in memory are written`);
        this.lastWrittenId = Math.max(this.lastWrittenId, lastId);
        return result;
      });
    this.previous = next.catch(() => undefined);
    return next;
  }

  /** Writes what was kept while the store was away, if anything (the supervisor calls it with its heartbeat). */
  async flush(): Promise<void> {
    if (this.unwritten.length > 0) await this.inOrder(async () => undefined);
  }

  /** An event that decides nothing by itself; kept in memory when the store is away. */
  private async note(
    event: Omit<SupervisorEventInput, 'at' | 'supervisorPid' | 'supervisor'>,
    workerEvent: WorkerEvent | null,
  ): Promise<void> {
    if (workerEvent !== null) this.known = decideRestart(this.known, workerEvent, this.clock(), this.policy).history;
    try {
      const id = await this.inOrder(({ now, supervisor }) =>
        supervisor.record({ ...event, at: now, supervisorPid: this.pid, supervisor: this.name }),
      );
      this.lastWrittenId = Math.max(this.lastWrittenId, id);
    } catch (error) {
      this.keep({ ...event, at: this.clock(), supervisorPid: this.pid, supervisor: this.name }, error);
    }
  }

  private keep(event: SupervisorEventInput, error: unknown): void {
    this.unwritten.push(event);
    if (this.unwritten.length > maxUnwritten) this.unwritten.shift();
    this.onStoreTrouble(
      `could not record ${event.kind} (${error instanceof Error ? error.message : String(error)}); kept in memory, written when the store is back`,
    );
  }

  /** At start the history must be read: a store that cannot give it throws, and the supervisor waits for it. */
  supervisorStarted(detail: string): Promise<SupervisorStart> {
    return this.inOrder(async ({ now, supervisor }) => {
      const { history } = await readRecord(supervisor, this.name, now, this.policy);
      const eventId = await supervisor.record({
        at: now,
        kind: 'supervisor-started',
        supervisorPid: this.pid,
        supervisor: this.name,
        detail,
      });
      this.known = history;
      this.lastWrittenId = eventId;
      return {
        history,
        startDelayMs: startDelayMs(history, now, this.policy),
        failuresInInterval: failuresWithin(history.failureTimes, now, this.policy).length,
        eventId,
      };
    });
  }

  async supervisorStopped(detail: string): Promise<void> {
    await this.note({ kind: 'supervisor-stopped', detail }, null);
  }

  async workerStarted(workerPid: number | null, detail: string): Promise<void> {
    await this.note({ kind: 'worker-started', workerPid, detail }, { kind: 'started' });
  }

  async workerReady(workerPid: number | null, url: string): Promise<void> {
    await this.note({ kind: 'worker-ready', workerPid, detail: url }, { kind: 'ready' });
  }

  /** Ready for stable-after: the consecutive count starts again from zero. */
  async workerStable(workerPid: number | null): Promise<void> {
    await this.note(
      { kind: 'worker-stable', workerPid, detail: `ready for ${formatDuration(this.policy.stableAfterMs)}` },
      { kind: 'stable' },
    );
  }

  /** Status 0 without being asked: no restart. */
  async workerExited(workerPid: number | null): Promise<void> {
    await this.note({ kind: 'worker-exited', workerPid, exitCode: 0, detail: 'exit code 0' }, { kind: 'clean-exit' });
  }

  /**
   * Records the failure and decides, in the same transaction: restart after a delay, or give up.
   * When the store is away the decision comes from the history in memory, and the events are
   * kept to be written later: a store's hiccup never stops the supervisor.
   */
  async workerFailed(workerPid: number | null, cause: FailureCause, causeDetail: string): Promise<RecordedFailure> {
    try {
      return await this.inOrder(async ({ now, supervisor }) => {
        const { history } = await readRecord(supervisor, this.name, now, this.policy);
        const step = decideFailure(history, cause, now, this.policy);
        const [failure, gaveUp] = this.failureEvents(workerPid, cause, causeDetail, step.decision, now);
        const eventId = await supervisor.record(failure);
        if (gaveUp !== undefined) await supervisor.record(gaveUp);
        this.known = step.history;
        return { decision: step.decision, eventId, durable: true };
      });
    } catch (error) {
      const now = this.clock();
      const step = decideFailure(this.known, cause, now, this.policy);
      this.known = step.history;
      const [failure, gaveUp] = this.failureEvents(workerPid, cause, causeDetail, step.decision, now);
      this.keep(failure, error);
      if (gaveUp !== undefined) this.keep(gaveUp, error);
      return { decision: step.decision, eventId: this.lastWrittenId, durable: false };
    }
  }

  private failureEvents(
    workerPid: number | null,
    cause: FailureCause,
    causeDetail: string,
    decision: RecordedFailure['decision'],
    at: number,
  ): [SupervisorEventInput, SupervisorEventInput | undefined] {
    const failure = {
      at,
      supervisorPid: this.pid,
      supervisor: this.name,
      workerPid,
      exitCode: cause.kind === 'exit-code' ? cause.exitCode : null,
      signal: cause.kind === 'signal' ? cause.signal : null,
      cause: cause.kind,
    };
    const failed: SupervisorEventInput = {
      ...failure,
      kind: 'worker-failed',
      delayMs: decision.kind === 'restart' ? decision.delayMs : null,
      detail: causeDetail,
    };
    if (decision.kind !== 'give-up') return [failed, undefined];
    return [
      failed,
      {
        ...failure,
        kind: 'gave-up',
        delayMs: restartDelayMs(decision.consecutiveFailures, this.policy),
        detail: `${decision.failuresInInterval} failures within ${formatDuration(this.policy.startLimitIntervalMs)}; last: ${causeDetail}`,
      },
    ];
  }

  /**
   * The operator's reset after fixing the cause: the consecutive count, the pending delay and the
   * burst window start from nothing. Written to audit_log with who and why.
   */
  clear(actor: string, reason: string | null): Promise<ClearedRestarts> {
    return this.inOrder(async ({ now, supervisor }) => {
      const cleared = whatAClearWipes(await readRecord(supervisor, this.name, now, this.policy), now, this.policy);
      await supervisor.record({
        at: now,
        kind: 'cleared',
        supervisorPid: this.pid,
        supervisor: this.name,
        detail: reason === null ? `cleared by ${actor}` : `cleared by ${actor}: ${reason}`,
      });
      await supervisor.recordAudit(now, 'reset-restarts', actor, reason, cleared);
      return cleared;
    });
  }

  /** Whether an operator cleared the history after this event (read-only); a store away answers no. */
  async clearedAfter(eventId: number): Promise<boolean> {
    try {
      return (await this.store.read(({ supervisor }) => supervisor.lastIdOf(['cleared']))) > eventId;
    } catch {
      return false;
    }
  }

  summary(): Promise<RestartSummary> {
    return readRestartSummary(this.store, this.policy, this.name);
  }
}

function decideFailure(
  history: RestartHistory,
  cause: FailureCause,
  now: number,
  policy: RestartPolicy,
): { history: RestartHistory; decision: RecordedFailure['decision'] } {
  const step = decideRestart(history, { kind: 'failure', cause }, now, policy);
  if (step.decision.kind !== 'restart' && step.decision.kind !== 'give-up')
    throw new Error(`a failure cannot lead to ${step.decision.kind}`);
  return { history: step.history, decision: step.decision };
}
