import type { ProcessInfo, Store } from '../store/port.js';
import type { Clock } from '../kernel/clock.js';

/** A process's heartbeat in `processes`, so that status can tell a live worker from a stale pid. */
export class Heartbeat {
  constructor(
    private readonly store: Store,
    private readonly info: ProcessInfo,
    private readonly clock: Clock,
  ) {}

  async beat(): Promise<void> {
    await this.store.transact((tx) => tx.processes.beat(this.info, this.clock()));
  }

  /** Once at start: the policy this process runs with, which status and calibrate then show and use. */
  async recordPolicy(policy: object): Promise<void> {
    await this.store.transact((tx) => tx.processes.recordPolicy(this.info.role, this.info.pid, this.clock(), policy));
  }

  /** A clean stop removes the row: status then shows the process as stopped, not as silent. */
  async forget(): Promise<void> {
    await this.store.transact((tx) => tx.processes.forget(this.info.role, this.info.pid));
  }
}
