import { defaultDatabasePath } from '../config/paths.js';
import { restartPolicyFrom } from '../config/policy.js';
import type { Settings } from '../config/schema.js';
import { burstLimitReachable } from '../core/restartPolicy.js';
import { createLogger } from '../proxy/log.js';
import { Heartbeat } from '../warden/heartbeat.js';
import { SupervisorLedger } from '../warden/supervisorLedger.js';
import type { Clock } from '../warden/types.js';
import { unreachableBurstLine } from './describe.js';
import { RestartLoop } from './restartLoop.js';
import { StopRequests } from './stopRequests.js';
import { defaultWorkerCommand, type WorkerCommand } from './workerCommand.js';

export interface SuperviseOptions {
  settings: Settings;
  /** The user's arguments to `run`, passed on to the worker (`ratewarden run --no-supervise …`). */
  userArgs: readonly string[];
  /** For tests only: the program to run as the worker instead of this one in worker mode. */
  workerCommand?: WorkerCommand;
  clock?: Clock;
  writeStdout?: (text: string) => void;
  writeStderr?: (text: string) => void;
}

/** How often the supervisor refreshes its row in `processes`. */
export const supervisorHeartbeatMs = 5_000;

/**
 * `ratewarden run`: runs the worker and restarts it on failure under the durable restart policy.
 * Resolves with the exit code: 0 after a stop or a clean worker exit, exitCodes.gaveUp when the
 * burst limit was reached.
 */
export async function superviseWorker(options: SuperviseOptions): Promise<number> {
  const { settings } = options;
  const clock = options.clock ?? Date.now;
  const writeStdout = options.writeStdout ?? ((text: string) => void process.stdout.write(text));
  const writeStderr = options.writeStderr ?? ((text: string) => void process.stderr.write(text));
  const policy = restartPolicyFrom(settings);
  const reachability = burstLimitReachable(policy);
  if (!reachability.reachable) writeStderr(`ratewarden: warning: ${unreachableBurstLine(policy, reachability)}\n`);

  const ledger = SupervisorLedger.open({ dbPath: settings.db ?? defaultDatabasePath(process.env), policy, clock, durability: settings.durability });
  const log = createLogger(settings.logFormat, writeStdout, clock);
  const listen = `${settings.listen.host.includes(':') ? `[${settings.listen.host}]` : settings.listen.host}:${settings.listen.port}`;
  const heartbeat = new Heartbeat(ledger.db, { role: 'supervisor', pid: process.pid, startedAt: clock(), listen, upstream: settings.upstream }, clock);
  const stop = new StopRequests();
  const loop = new RestartLoop(ledger, log, stop, policy, {
    command: options.workerCommand ?? defaultWorkerCommand(options.userArgs),
    format: settings.logFormat,
    clock,
    writeStdout,
    writeStderr,
    life: {
      startTimeoutMs: settings.startTimeout,
      livenessIntervalMs: settings.livenessInterval,
      livenessMisses: settings.livenessMisses,
      stableAfterMs: settings.stableAfter,
      stopTimeoutMs: settings.stopTimeout,
      fallbackUrl: `http://${listen}`,
    },
  });
  const beat = (): void => loop.bestEffort('heartbeat', () => heartbeat.beat());
  beat();
  loop.bestEffort('restart policy', () => heartbeat.recordPolicy(policy));
  const beating = setInterval(beat, supervisorHeartbeatMs);
  try {
    return await loop.run();
  } finally {
    clearInterval(beating);
    stop.dispose();
    loop.killLeftover();
    loop.bestEffort('heartbeat', () => heartbeat.forget());
    ledger.close();
  }
}
