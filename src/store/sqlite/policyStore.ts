import type { Database, Statement } from 'better-sqlite3';
import type { ProcessRole, RecordedPolicyRow } from '../port.js';

/**
 * The `process_policies` table. Writing a process's policy also drops the rows of processes of
 * its role that have no row in `processes` any more (stopped cleanly): the table stays as small
 * as `processes`, plus the policy of the last process that stopped.
 */
export class PolicyStore {
  private readonly upsert: Statement<[string, number, number, string]>;
  private readonly pruneStopped: Statement<[string, number, string]>;
  private readonly selectAll: Statement<[], { role: ProcessRole; pid: number; written_at: number; policy: string }>;

  constructor(db: Database) {
    this.upsert = db.prepare(
      `INSERT INTO process_policies (role, pid, written_at, policy) VALUES (?, ?, ?, ?)
       ON CONFLICT (role, pid) DO UPDATE SET written_at = excluded.written_at, policy = excluded.policy`,
    );
    this.pruneStopped = db.prepare(
      'DELETE FROM process_policies WHERE role = ? AND pid <> ? AND pid NOT IN (SELECT pid FROM processes WHERE role = ?)',
    );
    this.selectAll = db.prepare('SELECT role, pid, written_at, policy FROM process_policies ORDER BY written_at DESC, pid DESC');
  }

  record(role: ProcessRole, pid: number, now: number, policy: object): void {
    this.pruneStopped.run(role, pid, role);
    this.upsert.run(role, pid, now, JSON.stringify(policy));
  }

  /** Newest first. */
  all(): RecordedPolicyRow[] {
    return this.selectAll.all().map((row) => ({
      role: row.role,
      pid: row.pid,
      writtenAt: row.written_at,
      policy: JSON.parse(row.policy) as Record<string, unknown>,
    }));
  }
}
