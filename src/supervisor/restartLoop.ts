import { exitCodes } from '../kernel/exitCodes.js';
import { formatDuration } from '../kernel/durations.js';
import type { Settings } from '../config/schema.js';
import { restartDelayMs, type RestartPolicy } from '../core/restartPolicy.js';
import type { Logger } from '../kernel/log.js';
import type { SupervisorLedger, SupervisorStart } from '../warden/supervisorLedger.js';
import type { Clock } from '../kernel/clock.js';
import { describeCause, finalExitLine, gaveUpLine } from './describe.js';
import type { FrontDoor } from './frontDoor.js';
import type { StopRequests } from './stopRequests.js';
import { delay, whenAborted } from './waiting.js';
import { superviseWorkerLife, type WorkerLifeSettings, type WorkerOutcome } from './workerLife.js';
import type { WorkerCommand } from './workerCommand.js';
import { startWorker, type WorkerProcess } from './workerProcess.js';

/** While a restart waits, how often the supervisor looks for an operator's `reset-restarts`. */
const clearedPollMs = 500;

export interface RestartLoopSetup {
  command: WorkerCommand;
  format: Settings['logFormat'];
  clock: Clock;
  writeStdout: (text: string) => void;
  writeStderr: (text: string) => void;
  life: WorkerLifeSettings;
  /** The listening socket the supervisor owns and hands to each worker. */
  door: FrontDoor;
}

/** Starts the worker, follows it, and after a failure restarts it or gives up, as the ledger decides. */
export class RestartLoop {
  private current: WorkerProcess | null = null;
  private currentEnded = true;

  constructor(
    private readonly ledger: SupervisorLedger,
    private readonly log: Logger,
    private readonly stop: StopRequests,
    private readonly policy: RestartPolicy,
    private readonly setup: RestartLoopSetup,
  ) {}

  /** `start`: what the ledger said when the supervisor's start was recorded. */
  async run(start: SupervisorStart): Promise<number> {
    this.announceHistory(start);
    let waitMs = start.startDelayMs;
    let waitingSinceEvent = start.eventId;
    for (;;) {
      if (waitMs > 0 && !(await this.waitToStart(waitMs, waitingSinceEvent))) break;
      if (this.stop.graceful.aborted) break;
      // The next worker is due: connections wait for it from now on.
      this.setup.door.hold();
      const worker = await this.startWorker();
      const outcome = await superviseWorkerLife(worker, this.setup.life, this.stop, {
        ready: (url) => this.workerReady(worker, url),
        stable: () => this.workerStable(worker),
      });
      this.currentEnded = true;
      // Until the next worker is ready, new connections wait or are answered here, with those that never reached this one.
      this.setup.door.hold(worker.takeBack());
      const next = await this.afterWorker(worker, outcome);
      if (next.kind === 'exit') return next.exitCode;
      waitMs = next.delayMs;
      waitingSinceEvent = next.failureEventId;
    }
    const detail = `stopped on ${this.stop.reason ?? 'request'} while waiting to start the worker`;
    this.log.info('supervisor-stopped', `supervisor: ${detail}`, this.fields({}));
    await this.bestEffort('supervisor-stopped', () => this.ledger.supervisorStopped(detail));
    return exitCodes.ok;
  }

  /** A history left by an earlier supervisor is said out loud: it is why the worker may start late. */
  private announceHistory(start: SupervisorStart): void {
    if (start.failuresInInterval === 0 && start.history.consecutiveFailures === 0) return;
    const when = start.startDelayMs > 0 ? `starts in ${formatDuration(start.startDelayMs)}` : 'starts now';
    this.log.warn(
      'supervisor-history',
      `supervisor: this database remembers ${start.failuresInInterval} worker failures within the last ${formatDuration(this.policy.startLimitIntervalMs)} ` +
        `(${start.history.consecutiveFailures} in a row); the worker ${when}. Once the cause is fixed, "ratewarden reset-restarts" clears this`,
      this.fields({
        failuresInInterval: start.failuresInInterval,
        consecutiveFailures: start.history.consecutiveFailures,
        delayMs: start.startDelayMs,
      }),
    );
  }

  /** Records how the worker ended and says what comes next: the supervisor's exit, or a restart after a delay. */
  private async afterWorker(
    worker: WorkerProcess,
    outcome: WorkerOutcome,
  ): Promise<{ kind: 'exit'; exitCode: number } | { kind: 'restart'; delayMs: number; failureEventId: number }> {
    switch (outcome.kind) {
      case 'stopped':
        this.log.info('supervisor-stopped', `supervisor: ${outcome.detail}`, this.fields({ workerPid: worker.pid }));
        await this.bestEffort('supervisor-stopped', () => this.ledger.supervisorStopped(outcome.detail));
        return { kind: 'exit', exitCode: exitCodes.ok };
      case 'clean-exit':
        await this.bestEffort('worker-exited', () => this.ledger.workerExited(worker.pid));
        this.log.info(
          'worker-exited',
          `supervisor: worker ${worker.pid ?? '?'} exited with status 0; not restarting`,
          this.fields({ workerPid: worker.pid }),
        );
        await this.bestEffort('supervisor-stopped', () => this.ledger.supervisorStopped('the worker exited with status 0'));
        return { kind: 'exit', exitCode: exitCodes.ok };
      case 'final-exit': {
        // A configuration mistake or an unusable store: restarting cannot fix it, and it is no failure of the worker's.
        const line = finalExitLine(worker.pid, outcome.exitCode);
        this.log.error('worker-final-exit', `supervisor: ${line}`, this.fields({ workerPid: worker.pid, exitCode: outcome.exitCode }));
        this.setup.writeStderr(`ratewarden: ${line}\n`);
        await this.bestEffort('supervisor-stopped', () => this.ledger.supervisorStopped(line));
        return { kind: 'exit', exitCode: outcome.exitCode };
      }
      case 'failure':
        break;
    }
    const cause = describeCause(outcome.cause);
    const { decision, eventId } = await this.ledger.workerFailed(worker.pid, outcome.cause, cause);
    if (decision.kind === 'give-up') {
      this.setup.door.gaveUp(restartDelayMs(decision.consecutiveFailures, this.policy));
      const line = gaveUpLine(decision.failuresInInterval, this.policy, cause);
      if (this.setup.format === 'json')
        this.log.error(
          'supervisor-gave-up',
          line,
          this.fields({ workerPid: worker.pid, failuresInInterval: decision.failuresInInterval, cause }),
        );
      this.setup.writeStderr(`ratewarden: ${line}\n`);
      return { kind: 'exit', exitCode: exitCodes.gaveUp };
    }
    this.log.warn(
      'worker-failed',
      `supervisor: worker ${worker.pid ?? '?'} failed (${cause}); restarting ${decision.delayMs === 0 ? 'at once' : `in ${formatDuration(decision.delayMs)}`} ` +
        `(${decision.consecutiveFailures} in a row, ${decision.failuresInInterval} of ${this.policy.startLimitBurst} allowed within ${formatDuration(this.policy.startLimitIntervalMs)})`,
      this.fields({
        workerPid: worker.pid,
        cause,
        delayMs: decision.delayMs,
        consecutiveFailures: decision.consecutiveFailures,
        failuresInInterval: decision.failuresInInterval,
      }),
    );
    return { kind: 'restart', delayMs: decision.delayMs, failureEventId: eventId };
  }

  /** Waits out a restart delay; an operator's reset cuts it short. False when a stop came first. */
  private async waitToStart(waitMs: number, sinceEvent: number): Promise<boolean> {
    const deadline = this.setup.clock() + waitMs;
    this.setup.door.restarting(deadline);
    const waiting = new AbortController();
    try {
      const stopped = whenAborted(this.stop.graceful, waiting.signal).then(() => false);
      for (let left = waitMs; left > 0; left = deadline - this.setup.clock()) {
        const elapsed = await Promise.race([delay(Math.min(left, clearedPollMs), waiting.signal), stopped]);
        if (!elapsed) return false;
        if (await this.ledger.clearedAfter(sinceEvent)) {
          this.log.info('supervisor-cleared', 'supervisor: the restart history was cleared; starting the worker now', this.fields({}));
          return true;
        }
      }
      return true;
    } finally {
      waiting.abort();
    }
  }

  private async startWorker(): Promise<WorkerProcess> {
    const worker = await startWorker(
      this.setup.command,
      { server: this.setup.door.server, url: this.setup.door.url },
      {
        format: this.setup.format,
        writeStdout: this.setup.writeStdout,
        writeStderr: this.setup.writeStderr,
        now: this.setup.clock,
      },
    );
    this.current = worker;
    this.currentEnded = false;
    await this.bestEffort('worker-started', () =>
      this.ledger.workerStarted(worker.pid, [this.setup.command.file, ...this.setup.command.args].join(' ')),
    );
    this.log.info('worker-started', `supervisor: worker ${worker.pid ?? '?'} started`, this.fields({ workerPid: worker.pid }));
    return worker;
  }

  private workerReady(worker: WorkerProcess, url: string): void {
    this.setup.door.serve(worker);
    // Not awaited: the ledger records its events in the order asked, so this one still comes before the worker's end.
    void this.bestEffort('worker-ready', () => this.ledger.workerReady(worker.pid, url));
    this.log.info('worker-ready', `supervisor: worker ${worker.pid ?? '?'} ready at ${url}`, this.fields({ workerPid: worker.pid, url }));
  }

  private workerStable(worker: WorkerProcess): void {
    void this.bestEffort('worker-stable', () => this.ledger.workerStable(worker.pid));
  }

  /** After an unexpected error, the worker must not outlive the supervisor. */
  killLeftover(): void {
    if (this.current !== null && !this.currentEnded) this.current.kill('SIGKILL');
  }

  /** Events that inform but decide nothing: a write that fails is reported and supervision goes on. */
  async bestEffort(what: string, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      this.log.warn(
        'supervisor-store',
        `supervisor: could not record ${what} (${error instanceof Error ? error.message : String(error)})`,
        this.fields({}),
      );
    }
  }

  private fields(extra: Record<string, string | number | boolean | null>): Record<string, string | number | boolean | null> {
    return { source: 'supervisor', ...extra };
  }
}
