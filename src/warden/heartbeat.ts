import type { QueueState } from '../core/queueState.js';
import type { ProcessInfo, Store } from '../store/port.js';

/** A process's heartbeat in `processes`, so that status can tell a live worker from a stale pid. The store's time (on PostgreSQL the server's), like every row other hosts read. */
export class Heartbeat {
  constructor(
    private readonly store: Store,
    private readonly info: ProcessInfo,
    /** A worker's: its admission queue, written with each beat (its waits measured on the worker's own clock). */
    private readonly queue: (() => QueueState) | null = null,
  ) {}

  async beat(): Promise<void> {
    await this.store.transact((tx) => tx.processes.beat(this.info, tx.now, this.queue?.() ?? null));
  }

  /** Once at start: the policy this process runs with, which status and calibrate then show and use. */
  async recordPolicy(policy: object): Promise<void> {
    await this.store.transact((tx) => tx.processes.recordPolicy(this.info.role, this.info.pid, tx.now, policy));
  }

  /** A clean stop removes the row: status then shows the process as stopped, not as silent. */
  async forget(): Promise<void> {
    await this.store.transact((tx) => tx.processes.forget(this.info.role, this.info.pid));
  }
}
