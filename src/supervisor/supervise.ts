import { exitCodes } from '../cli/exitCodes.js';
import { formatDuration } from '../config/durations.js';
import { defaultDatabasePath } from '../config/paths.js';
import { restartPolicyFrom } from '../config/policy.js';
import type { Settings } from '../config/schema.js';
import { burstLimitReachable, type RestartPolicy } from '../core/restartPolicy.js';
import { createLogger, type Logger } from '../proxy/log.js';
import { Heartbeat } from '../warden/heartbeat.js';
import { SupervisorLedger } from '../warden/supervisorLedger.js';
import type { Clock } from '../warden/types.js';
import { describeCause, gaveUpLine, unreachableBurstLine } from './describe.js';
import { StopRequests } from './stopRequests.js';
import { delay, whenAborted } from './waiting.js';
import { superviseWorkerLife, type WorkerLifeSettings } from './workerLife.js';
import { defaultWorkerCommand, type WorkerCommand } from './workerCommand.js';
import { startWorker, type WorkerProcess } from './workerProcess.js';

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

/** While a restart waits, how often the supervisor looks for an operator's `reset-restarts`. */
const clearedPollMs = 500;

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
  const supervisor = new Supervisor(ledger, log, stop, policy, {
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
  const beat = (): void => supervisor.bestEffort('heartbeat', () => heartbeat.beat());
  beat();
  const beating = setInterval(beat, supervisorHeartbeatMs);
  try {
    return await supervisor.run();
  } finally {
    clearInterval(beating);
    stop.dispose();
    supervisor.killLeftover();
    supervisor.bestEffort('heartbeat', () => heartbeat.forget());
    ledger.close();
  }
}

interface SupervisorSetup {
  command: WorkerCommand;
  format: Settings['logFormat'];
  clock: Clock;
  writeStdout: (text: string) => void;
  writeStderr: (text: string) => void;
  life: WorkerLifeSettings;
}

class Supervisor {
  private current: WorkerProcess | null = null;
  private currentEnded = true;

  constructor(
    private readonly ledger: SupervisorLedger,
    private readonly log: Logger,
    private readonly stop: StopRequests,
    private readonly policy: RestartPolicy,
    private readonly setup: SupervisorSetup,
  ) {}

  async run(): Promise<number> {
    const start = this.ledger.supervisorStarted(`restart-sec ${formatDuration(this.policy.restartSecMs)}, start-limit-burst ${this.policy.startLimitBurst} within ${formatDuration(this.policy.startLimitIntervalMs)}`);
    if (start.failuresInInterval > 0 || start.history.consecutiveFailures > 0) {
      this.log.warn(
        'supervisor-history',
        `supervisor: this database remembers ${start.failuresInInterval} worker failures within the last ${formatDuration(this.policy.startLimitIntervalMs)} ` +
          `(${start.history.consecutiveFailures} in a row); the worker starts in ${formatDuration(start.startDelayMs)}. ` +
          'Once the cause is fixed, "ratewarden reset-restarts" clears this',
        this.fields({ failuresInInterval: start.failuresInInterval, consecutiveFailures: start.history.consecutiveFailures, delayMs: start.startDelayMs }),
      );
    }
    let waitMs = start.startDelayMs;
    let waitingSinceEvent = start.eventId;
    for (;;) {
      if (waitMs > 0 && !(await this.waitToStart(waitMs, waitingSinceEvent))) break;
      if (this.stop.graceful.aborted) break;

      const worker = this.startWorker();
      const outcome = await superviseWorkerLife(worker, this.setup.life, this.stop, {
        ready: (url) => this.workerReady(worker, url),
        stable: () => this.workerStable(worker),
      });
      this.currentEnded = true;
      if (outcome.kind === 'stopped') {
        this.log.info('supervisor-stopped', `supervisor: ${outcome.detail}`, this.fields({ workerPid: worker.pid }));
        this.ledger.supervisorStopped(outcome.detail);
        return exitCodes.ok;
      }
      if (outcome.kind === 'clean-exit') {
        this.ledger.workerExited(worker.pid);
        this.log.info('worker-exited', `supervisor: worker ${worker.pid ?? '?'} exited with status 0; not restarting`, this.fields({ workerPid: worker.pid }));
        this.ledger.supervisorStopped('the worker exited with status 0');
        return exitCodes.ok;
      }

      const cause = describeCause(outcome.cause);
      const { decision, eventId } = this.ledger.workerFailed(worker.pid, outcome.cause, cause);
      if (decision.kind === 'give-up') {
        const line = gaveUpLine(decision.failuresInInterval, this.policy, cause);
        if (this.setup.format === 'json') this.log.error('supervisor-gave-up', line, this.fields({ workerPid: worker.pid, failuresInInterval: decision.failuresInInterval, cause }));
        this.setup.writeStderr(`ratewarden: ${line}\n`);
        return exitCodes.gaveUp;
      }
      this.log.warn(
        'worker-failed',
        `supervisor: worker ${worker.pid ?? '?'} failed (${cause}); restarting in ${formatDuration(decision.delayMs)} ` +
          `(${decision.consecutiveFailures} in a row, ${decision.failuresInInterval} of ${this.policy.startLimitBurst} allowed within ${formatDuration(this.policy.startLimitIntervalMs)})`,
        this.fields({ workerPid: worker.pid, cause, delayMs: decision.delayMs, consecutiveFailures: decision.consecutiveFailures, failuresInInterval: decision.failuresInInterval }),
      );
      waitMs = decision.delayMs;
      waitingSinceEvent = eventId;
    }
    const detail = `stopped on ${this.stop.reason ?? 'request'} while waiting to start the worker`;
    this.log.info('supervisor-stopped', `supervisor: ${detail}`, this.fields({}));
    this.ledger.supervisorStopped(detail);
    return exitCodes.ok;
  }

  /** Waits out a restart delay; an operator's reset cuts it short. False when a stop came first. */
  private async waitToStart(waitMs: number, sinceEvent: number): Promise<boolean> {
    const deadline = this.setup.clock() + waitMs;
    const waiting = new AbortController();
    try {
      const stopped = whenAborted(this.stop.graceful, waiting.signal).then(() => false);
      for (let left = waitMs; left > 0; left = deadline - this.setup.clock()) {
        const elapsed = await Promise.race([delay(Math.min(left, clearedPollMs), waiting.signal), stopped]);
        if (!elapsed) return false;
        if (this.ledger.clearedAfter(sinceEvent)) {
          this.log.info('supervisor-cleared', 'supervisor: the restart history was cleared; starting the worker now', this.fields({}));
          return true;
        }
      }
      return true;
    } finally {
      waiting.abort();
    }
  }

  private startWorker(): WorkerProcess {
    const worker = startWorker(this.setup.command, {
      format: this.setup.format,
      writeStdout: this.setup.writeStdout,
      writeStderr: this.setup.writeStderr,
      now: this.setup.clock,
    });
    this.current = worker;
    this.currentEnded = false;
    this.bestEffort('worker-started', () => this.ledger.workerStarted(worker.pid, [this.setup.command.file, ...this.setup.command.args].join(' ')));
    this.log.info('worker-started', `supervisor: worker ${worker.pid ?? '?'} started`, this.fields({ workerPid: worker.pid }));
    return worker;
  }

  private workerReady(worker: WorkerProcess, url: string): void {
    this.bestEffort('worker-ready', () => this.ledger.workerReady(worker.pid, url));
    this.log.info('worker-ready', `supervisor: worker ${worker.pid ?? '?'} ready at ${url}`, this.fields({ workerPid: worker.pid, url }));
  }

  private workerStable(worker: WorkerProcess): void {
    this.bestEffort('worker-stable', () => this.ledger.workerStable(worker.pid));
  }

  /** After an unexpected error, the worker must not outlive the supervisor. */
  killLeftover(): void {
    if (this.current !== null && !this.currentEnded) this.current.kill('SIGKILL');
  }

  /** Events that inform but decide nothing: a write that fails is reported and supervision goes on. */
  bestEffort(what: string, write: () => void): void {
    try {
      write();
    } catch (error) {
      this.log.warn('supervisor-store', `supervisor: could not record ${what} (${error instanceof Error ? error.message : String(error)})`, this.fields({}));
    }
  }

  private fields(extra: Record<string, string | number | boolean | null>): Record<string, string | number | boolean | null> {
    return { source: 'supervisor', ...extra };
  }
}
