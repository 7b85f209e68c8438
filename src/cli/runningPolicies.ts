import { limiterPolicyFrom, restartPolicyFrom } from '../config/policy.js';
import type { Settings } from '../config/schema.js';
import type { RestartPolicy } from '../core/restartPolicy.js';
import { localPids } from '../core/processLiveness.js';
import { runningPolicy, type RunningPolicy } from '../core/runningPolicy.js';
import type { LimiterPolicy } from '../core/types.js';
import { heartbeatIntervalMs } from '../proxy/ticker.js';
import type { StoreTransaction } from '../store/port.js';
import { supervisorHeartbeatMs } from '../supervisor/supervise.js';
import { livePidsAmong } from './pidLiveness.js';

/** A process whose heartbeat is older than three of its periods is not counted as running. */
export const heartbeatStaleAfterMs = { worker: 3 * heartbeatIntervalMs, supervisor: 3 * supervisorHeartbeatMs };

export interface RunningPolicies {
  limiter: RunningPolicy<LimiterPolicy>;
  restart: RunningPolicy<RestartPolicy>;
}

/**
 * The policies the proxy's processes recorded when they started, over this command's own
 * settings (which stand in only for what was never recorded): what status and calibrate show
 * and compute with. The policies are this host's (`thisHost`, on a server shared by hosts), and
 * so are the processes that tell which one runs.
 */
export async function readRunningPolicies(
  tx: StoreTransaction,
  settings: Settings,
  now: number,
  thisHost: string | undefined,
): Promise<RunningPolicies> {
  const policies = await tx.processes.policies();
  const processes = await tx.processes.heartbeats();
  const liveness = {
    rows: processes,
    now,
    staleAfterMs: heartbeatStaleAfterMs,
    livePids: livePidsAmong(localPids(processes, thisHost)),
    thisHost,
  };
  return {
    limiter: runningPolicy('worker', policies, liveness, limiterPolicyFrom(settings)),
    restart: runningPolicy('supervisor', policies, liveness, restartPolicyFrom(settings)),
  };
}
