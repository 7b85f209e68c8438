import {
  burstLimitReachable,
  failuresWithin,
  restartDelayMs,
  startDelayMs,
  type RestartHistory,
  type RestartPolicy,
} from './restartPolicy.js';

/*
 * A supervisor's restart history, folded from its ledger's events. The store keeps the events
 * and reads back a bounded stretch of them (the port's SupervisorRepository.restartEvents); what
 * they mean (a clear wipes the brakes, a stable run ends a crash loop, the burst counts only the
 * interval, a failure with no start after it is a restart still due) is decided here, once.
 */

/** One event of the ledger as the fold needs it: what happened to a worker, and when. */
export interface LedgerEvent {
  kind: string;
  at: number;
}

/** The kinds the fold reads: a worker's life, the give-up, and an operator's clear. Others (a supervisor's start or stop) change nothing. */
export const restartLedgerKinds: readonly string[] = [
  'worker-started',
  'worker-ready',
  'worker-stable',
  'worker-failed',
  'worker-exited',
  'gave-up',
  'cleared',
];

/** What the supervisor's ledger says, as of now. */
export interface RestartRecord<E extends LedgerEvent> {
  history: RestartHistory;
  /** The latest event of a worker's life is a give-up (no clear, no start since). */
  gaveUp: boolean;
  /** The latest worker-failed or worker-exited event, a clear notwithstanding. */
  lastExit: E | null;
}

/** What `ratewarden status` and the metrics show about the supervisor. */
export interface RestartSummary<E extends LedgerEvent> {
  failuresInInterval: number;
  consecutiveFailures: number;
  /** The delay the next failure would get. */
  nextRestartDelayMs: number;
  /** How long until a due restart (0 when none is due or it is overdue: a supervisor would start now). */
  restartDueInMs: number;
  gaveUp: boolean;
  burstLimitReachable: boolean;
  lastExit: E | null;
}

/** What an operator's reset wipes, for its answer and its audit row. */
export interface ClearedRestarts {
  failuresInInterval: number;
  consecutiveFailures: number;
  gaveUp: boolean;
  restartWasDue: boolean;
  /** False when there was nothing to clear (the event and the audit row are written anyway). */
  anything: boolean;
}

/** The events after the latest `cleared`: an operator's reset wipes everything before it. */
function sinceLastClear<E extends LedgerEvent>(events: readonly E[]): readonly E[] {
  const lastClear = lastIndexOfKind(events, ['cleared']);
  return lastClear < 0 ? events : events.slice(lastClear + 1);
}

/** The index of the latest event of one of these kinds; -1 when there is none. */
function lastIndexOfKind(events: readonly LedgerEvent[], kinds: readonly string[]): number {
  for (let index = events.length - 1; index >= 0; index--) if (kinds.includes(events[index]?.kind ?? '')) return index;
  return -1;
}

/**
 * One supervisor's history folded from its ledger events, oldest first: after the last clear,
 * the failures inside the burst window, the failures since the last stable run, and whether the
 * latest event is a failure (or the give-up after it) whose restart is still due (no worker
 * started since). Events of other kinds are passed over.
 */
export function foldRestartHistory(
  events: readonly LedgerEvent[],
  now: number,
  policy: Pick<RestartPolicy, 'startLimitIntervalMs'>,
): RestartHistory {
  const relevant = sinceLastClear(events.filter((event) => restartLedgerKinds.includes(event.kind)));
  const failureTimes: number[] = [];
  let consecutiveFailures = 0;
  for (const event of relevant) {
    if (event.kind === 'worker-failed') {
      failureTimes.push(event.at);
      consecutiveFailures += 1;
    } else if (event.kind === 'worker-stable') {
      consecutiveFailures = 0;
    }
  }
  const latest = relevant.at(-1);
  const pendingFailureAt = latest !== undefined && (latest.kind === 'worker-failed' || latest.kind === 'gave-up') ? latest.at : null;
  return { failureTimes: failuresWithin(failureTimes, now, policy), consecutiveFailures, pendingFailureAt };
}

/** The history, the give-up and the last exit, from the events the store read (oldest first). */
export function foldRestartLedger<E extends LedgerEvent>(
  events: readonly E[],
  now: number,
  policy: Pick<RestartPolicy, 'startLimitIntervalMs'>,
): RestartRecord<E> {
  const relevant = events.filter((event) => restartLedgerKinds.includes(event.kind));
  const lastExit = lastIndexOfKind(relevant, ['worker-failed', 'worker-exited']);
  return {
    history: foldRestartHistory(relevant, now, policy),
    gaveUp: relevant.at(-1)?.kind === 'gave-up',
    lastExit: lastExit < 0 ? null : (relevant[lastExit] ?? null),
  };
}

export function summariseRestarts<E extends LedgerEvent>(record: RestartRecord<E>, now: number, policy: RestartPolicy): RestartSummary<E> {
  const { history } = record;
  return {
    failuresInInterval: failuresWithin(history.failureTimes, now, policy).length,
    consecutiveFailures: history.consecutiveFailures,
    nextRestartDelayMs: restartDelayMs(history.consecutiveFailures + 1, policy),
    restartDueInMs: startDelayMs(history, now, policy),
    gaveUp: record.gaveUp,
    burstLimitReachable: burstLimitReachable(policy).reachable,
    lastExit: record.lastExit,
  };
}

/** What a reset finds to wipe: read before its `cleared` event is written. */
export function whatAClearWipes(record: RestartRecord<LedgerEvent>, now: number, policy: RestartPolicy): ClearedRestarts {
  const { history } = record;
  return {
    failuresInInterval: failuresWithin(history.failureTimes, now, policy).length,
    consecutiveFailures: history.consecutiveFailures,
    gaveUp: record.gaveUp,
    restartWasDue: startDelayMs(history, now, policy) > 0,
    anything: history.failureTimes.length > 0 || history.consecutiveFailures > 0,
  };
}
