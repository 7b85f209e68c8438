import {
  foldRestartLedger,
  summariseRestarts,
  type RestartRecord,
  type RestartSummary as RestartSummaryOf,
} from '../core/restartLedger.js';
import type { RestartPolicy } from '../core/restartPolicy.js';
import type { Store, StoreTransaction, SupervisorEventRecord, SupervisorRepository } from '../store/port.js';

/** What `ratewarden status` shows about the supervisor; read-only. */
export type RestartSummary = RestartSummaryOf<SupervisorEventRecord>;

/**
 * One supervisor's restart record as the ledger holds it (null: every supervisor's of this host):
 * one read of the events it is folded from, folded by core.
 */
export async function readRecord(
  supervisor: SupervisorRepository,
  name: string | null,
  now: number,
  policy: RestartPolicy,
): Promise<RestartRecord<SupervisorEventRecord>> {
  return foldRestartLedger(await supervisor.restartEvents(name, now - policy.startLimitIntervalMs), now, policy);
}

/**
 * For status and the metrics: one read of the store (a read-only one will do), writes nothing;
 * the time is the read's. `name`: one supervisor's history; null: every supervisor's of this host.
 */
export function readRestartSummary(store: Store, policy: RestartPolicy, name: string | null = null): Promise<RestartSummary> {
  return store.read((tx) => restartSummaryIn(tx, policy, name));
}

/** The same, inside a read the caller already holds (a store runs one at a time: never nest a read in another). */
export async function restartSummaryIn(
  { now, supervisor }: StoreTransaction,
  policy: RestartPolicy,
  name: string | null = null,
): Promise<RestartSummary> {
  return summariseRestarts(await readRecord(supervisor, name, now, policy), now, policy);
}
