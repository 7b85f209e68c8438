import type { Database, Statement } from 'better-sqlite3';
import type { QueueState } from '../../core/queueState.js';
import type { ProcessInfo, ProcessRole } from '../port.js';

/** The `processes` table: who uses this database, kept fresh by heartbeats. */
export class ProcessStore {
  private readonly upsert: Statement<[string, number, number, number, string | null, string | null, string | null]>;
  private readonly remove: Statement<[string, number]>;

  constructor(db: Database) {
    this.upsert = db.prepare(
      `INSERT INTO processes (role, pid, started_at, heartbeat_at, listen, upstream, queue) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (role, pid) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, listen = excluded.listen, upstream = excluded.upstream, queue = excluded.queue`,
    );
    this.remove = db.prepare('DELETE FROM processes WHERE role = ? AND pid = ?');
  }

  beat(info: ProcessInfo, now: number, queue: QueueState | null = null): void {
    this.upsert.run(info.role, info.pid, info.startedAt, now, info.listen, info.upstream, queue === null ? null : JSON.stringify(queue));
  }

  forget(role: ProcessRole, pid: number): void {
    this.remove.run(role, pid);
  }
}
