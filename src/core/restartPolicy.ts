/** The supervisor's brakes, from the restart-* and start-limit-* settings. */
export interface RestartPolicy {
  restartSecMs: number;
  restartMaxDelayMs: number;
  stableAfterMs: number;
  startLimitBurst: number;
  startLimitIntervalMs: number;
}

/** Why a worker counts as failed. */
export type FailureCause =
  | { kind: 'exit-code'; exitCode: number }
  | { kind: 'signal'; signal: string }
  | { kind: 'readiness-timeout'; timeoutMs: number }
  | { kind: 'liveness'; misses: number }
  | { kind: 'spawn-error'; message: string };

export type FailureCauseKind = FailureCause['kind'];

/** What the supervisor remembers (durably) about past failures. Times are ms since the epoch. */
export interface RestartHistory {
  /** Failures since the brakes were last cleared, oldest first; only those inside the interval matter. */
  failureTimes: readonly number[];
  /** Failures since the worker was last stable for stable-after, or the brakes were cleared. */
  consecutiveFailures: number;
  /** When the latest failure happened, while no worker has been started since: a restart is still due. */
  pendingFailureAt: number | null;
}

export const emptyRestartHistory: RestartHistory = { failureTimes: [], consecutiveFailures: 0, pendingFailureAt: null };

export type WorkerEvent =
  | { kind: 'started' }
  | { kind: 'ready' }
  | { kind: 'stable' }
  /** Status 0 without being asked to stop. */
  | { kind: 'clean-exit' }
  /** The supervisor asked the worker to stop (SIGTERM / SIGINT to the supervisor). */
  | { kind: 'stopped' }
  | { kind: 'failure'; cause: FailureCause };

export type RestartDecision =
  | { kind: 'keep-running' }
  | { kind: 'no-restart'; reason: 'clean-exit' | 'stopped' }
  | { kind: 'restart'; delayMs: number; consecutiveFailures: number; failuresInInterval: number }
  | { kind: 'give-up'; consecutiveFailures: number; failuresInInterval: number };

/**
 * The delay after failure number `n` in a row. The first (after a stable run, a clear, or with
 * no history) restarts at once: the state is durable, so a restarted worker endangers nothing
 * and every second of delay is a second of 503s. From the second on it is a crash loop:
 * restart-sec · 2^(n−2), capped at restart-max-delay.
 */
export function restartDelayMs(consecutiveFailures: number, policy: Pick<RestartPolicy, 'restartSecMs' | 'restartMaxDelayMs'>): number {
  if (consecutiveFailures <= 1) return 0;
  const doublings = consecutiveFailures - 2;
  // Past 2^52 the product is no longer exact; long before that it is above any sane cap.
  return Math.min(policy.restartSecMs * 2 ** Math.min(doublings, 52), policy.restartMaxDelayMs);
}

/** Failures that fall within the sliding interval ending at `now` (strictly younger than it). */
export function failuresWithin(
  failureTimes: readonly number[],
  now: number,
  policy: Pick<RestartPolicy, 'startLimitIntervalMs'>,
): number[] {
  return failureTimes.filter((at) => now - at < policy.startLimitIntervalMs);
}

export function decideRestart(
  history: RestartHistory,
  event: WorkerEvent,
  now: number,
  policy: RestartPolicy,
): { history: RestartHistory; decision: RestartDecision } {
  switch (event.kind) {
    case 'started':
      return { history: { ...history, pendingFailureAt: null }, decision: { kind: 'keep-running' } };
    case 'ready':
      return { history, decision: { kind: 'keep-running' } };
    case 'stable':
      return { history: { ...history, consecutiveFailures: 0 }, decision: { kind: 'keep-running' } };
    case 'clean-exit':
      return { history, decision: { kind: 'no-restart', reason: 'clean-exit' } };
    case 'stopped':
      return { history, decision: { kind: 'no-restart', reason: 'stopped' } };
    case 'failure':
      return onFailure(history, now, policy);
  }
}

function onFailure(history: RestartHistory, now: number, policy: RestartPolicy): { history: RestartHistory; decision: RestartDecision } {
  const failureTimes = [...failuresWithin(history.failureTimes, now, policy), now];
  const consecutiveFailures = history.consecutiveFailures + 1;
  const next: RestartHistory = { failureTimes, consecutiveFailures, pendingFailureAt: now };
  const failuresInInterval = failureTimes.length;
  if (failuresInInterval >= policy.startLimitBurst) {
    return { history: next, decision: { kind: 'give-up', consecutiveFailures, failuresInInterval } };
  }
  return {
    history: next,
    decision: { kind: 'restart', delayMs: restartDelayMs(consecutiveFailures, policy), consecutiveFailures, failuresInInterval },
  };
}

/**
 * How long a supervisor that starts now must wait before its first worker: the rest of the
 * delay a failure recorded by an earlier supervisor asked for. An outer restart (systemd, a
 * reboot, by hand) never shortens the brakes.
 */
export function startDelayMs(history: RestartHistory, now: number, policy: RestartPolicy): number {
  if (history.pendingFailureAt === null || history.consecutiveFailures === 0) return 0;
  return Math.max(0, history.pendingFailureAt + restartDelayMs(history.consecutiveFailures, policy) - now);
}

export interface BurstReachability {
  reachable: boolean;
  /**
   * Time from the first to the last failure of a worker that crashes the moment it starts:
   * the delays of the burst−1 restarts between them.
   */
  crashLoopSpanMs: number;
}

/**
 * Whether a crash loop can ever put start-limit-burst failures inside start-limit-interval. With
 * the defaults the failures land at 0, 0, 10, 30 and 70 s, inside 300 s, so the limit fires.
 */
export function burstLimitReachable(policy: RestartPolicy): BurstReachability {
  const restarts = policy.startLimitBurst - 1;
  let crashLoopSpanMs = 0;
  let restart = 1;
  for (; restart <= restarts && restartDelayMs(restart, policy) < policy.restartMaxDelayMs; restart++)
    crashLoopSpanMs += restartDelayMs(restart, policy);
  // Once the delay reaches its cap every further restart waits the cap: no need to count them one by one.
  crashLoopSpanMs += Math.max(0, restarts - restart + 1) * policy.restartMaxDelayMs;
  return { reachable: crashLoopSpanMs < policy.startLimitIntervalMs, crashLoopSpanMs };
}
