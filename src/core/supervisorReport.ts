/** The supervisor's durable restart history as warden's readRestartSummary (restartSummary.ts) reads it. */
export interface RestartHistoryView {
  failuresInInterval: number;
  consecutiveFailures: number;
  /** The delay the next failure would get. */
  nextRestartDelayMs: number;
  /** How long until a restart that is due (0 when none is). */
  restartDueInMs: number;
  gaveUp: boolean;
  burstLimitReachable: boolean;
  /** The latest worker-failed or worker-exited event. */
  lastExit: {
    at: number;
    kind: string;
    workerPid: number | null;
    exitCode: number | null;
    signal: string | null;
    cause: string | null;
    detail: string | null;
  } | null;
}

export interface LastExit {
  at: number;
  /** False for a clean exit (status 0, no restart). */
  failed: boolean;
  workerPid: number | null;
  exitCode: number | null;
  signal: string | null;
  /** exit-code, signal, readiness-timeout, liveness or spawn-error. */
  cause: string | null;
  detail: string | null;
}

export interface SupervisorHistoryReport {
  failuresInInterval: number;
  burstLimit: number;
  intervalMs: number;
  burstLimitReachable: boolean;
  consecutiveFailures: number;
  nextRestartDelayMs: number;
  restartDueInMs: number;
  lastExit: LastExit | null;
  gaveUp: boolean;
}

export function supervisorHistoryReport(
  history: RestartHistoryView,
  policy: { startLimitBurst: number; startLimitIntervalMs: number },
): SupervisorHistoryReport {
  const exit = history.lastExit;
  return {
    failuresInInterval: history.failuresInInterval,
    burstLimit: policy.startLimitBurst,
    intervalMs: policy.startLimitIntervalMs,
    burstLimitReachable: history.burstLimitReachable,
    consecutiveFailures: history.consecutiveFailures,
    nextRestartDelayMs: history.nextRestartDelayMs,
    restartDueInMs: history.restartDueInMs,
    lastExit:
      exit === null
        ? null
        : {
            at: exit.at,
            failed: exit.kind === 'worker-failed',
            workerPid: exit.workerPid,
            exitCode: exit.exitCode,
            signal: exit.signal,
            cause: exit.cause,
            detail: exit.detail,
          },
    gaveUp: history.gaveUp,
  };
}
