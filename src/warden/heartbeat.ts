import type { Database } from 'better-sqlite3';
import { isStoreCorruption, isStoreWriteFailure } from '../store/errors.js';
import { PolicyStore } from '../store/policyStore.js';
import { ProcessStore, type ProcessInfo } from '../store/processStore.js';
import { StoreUnavailableError } from './errors.js';
import type { Clock } from '../kernel/clock.js';

/** A process's heartbeat in `processes`, so that status can tell a live worker from a stale pid. */
export class Heartbeat {
  private readonly store: ProcessStore;
  private readonly policies: PolicyStore;

  constructor(
    private readonly db: Database,
    private readonly info: ProcessInfo,
    private readonly clock: Clock,
  ) {
    this.store = new ProcessStore(db);
    this.policies = new PolicyStore(db);
  }

  beat(): void {
    this.write(() => this.store.beat(this.info, this.clock()));
  }

  /** Once at start: the policy this process runs with, which status and calibrate then show and use. */
  recordPolicy(policy: object): void {
    this.write(() => this.policies.record(this.info.role, this.info.pid, this.clock(), policy));
  }

  /** A clean stop removes the row: status then shows the process as stopped, not as silent. */
  forget(): void {
    this.write(() => this.store.forget(this.info.role, this.info.pid));
  }

  private write(work: () => void): void {
    try {
      this.db.transaction(work).immediate();
    } catch (error) {
      if (isStoreWriteFailure(error) || isStoreCorruption(error)) throw new StoreUnavailableError(`the heartbeat cannot be written (${(error as Error).message})`);
      throw error;
    }
  }
}
