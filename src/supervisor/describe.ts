import { exitCodes } from '../kernel/exitCodes.js';
import { formatDuration } from '../kernel/durations.js';
import type { BurstReachability, FailureCause, RestartPolicy } from '../core/restartPolicy.js';
import type { WorkerExit } from './workerProcess.js';

export function describeCause(cause: FailureCause): string {
  switch (cause.kind) {
    case 'exit-code':
      return `exit code ${cause.exitCode}`;
    case 'signal':
      return `signal ${cause.signal}`;
    case 'readiness-timeout':
      return `readiness timeout (not ready within ${formatDuration(cause.timeoutMs)})`;
    case 'liveness':
      return `liveness failure (${cause.misses} health probes missed in a row)`;
    case 'spawn-error':
      return `the worker could not be started (${cause.message})`;
  }
}

export function describeExit(exit: WorkerExit): string {
  switch (exit.kind) {
    case 'exit':
      return `exit code ${exit.exitCode}`;
    case 'signal':
      return `signal ${exit.signal}`;
    case 'spawn-error':
      return `not started: ${exit.message}`;
  }
}

/** The one line printed when the supervisor gives up. */
export function gaveUpLine(failuresInInterval: number, policy: RestartPolicy, lastCause: string): string {
  return (
    `supervisor gave up: ${failuresInInterval} worker failures within ${formatDuration(policy.startLimitIntervalMs)} ` +
    `(start-limit-burst ${policy.startLimitBurst}), the last: ${lastCause}; ` +
    'fix the cause, then run "ratewarden reset-restarts" and start again'
  );
}

/** The start-up warning for settings under which a crash loop never reaches the burst limit. */
export function unreachableBurstLine(policy: RestartPolicy, reachability: BurstReachability): string {
  const restarts = policy.startLimitBurst - 1;
  return (
    `start-limit-burst ${policy.startLimitBurst} can never be reached: the ${restarts} restart delays between ${policy.startLimitBurst} failures ` +
    `(the first at once, then restart-sec ${formatDuration(policy.restartSecMs)}, doubling up to restart-max-delay ${formatDuration(policy.restartMaxDelayMs)}) ` +
    `add up to ${formatDuration(reachability.crashLoopSpanMs)}, not less than start-limit-interval ${formatDuration(policy.startLimitIntervalMs)}, ` +
    'so a crash loop would restart forever; raise start-limit-interval, or lower restart-sec or start-limit-burst'
  );
}

/** The one line when the worker ends with a code no restart can fix: a configuration mistake or an unusable store, not a crash. */
export function finalExitLine(workerPid: number | null, exitCode: number): string {
  const what = exitCode === exitCodes.database ? 'the database cannot be used' : 'a usage or configuration mistake';
  const fix = exitCode === exitCodes.database ? 'fix the database as its line says' : 'fix the setting';
  return `worker ${workerPid ?? '?'} exited with status ${exitCode}, ${what} (its own line above says which); not restarting and not counted as a failure: ${fix} and start again`;
}
