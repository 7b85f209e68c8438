import type { Database, Statement } from 'better-sqlite3';
import type { SupervisorEventKind, SupervisorEventInput, SupervisorEventRecord } from '../port.js';
import { supervisorEventOf, type SupervisorEventDbRow } from '../rows.js';

/** The kinds that say what the worker did last; whether a restart is still due follows from the latest. */
export const workerLifecycleKinds: readonly SupervisorEventKind[] = ['worker-started', 'worker-ready', 'worker-stable', 'worker-failed', 'worker-exited', 'gave-up', 'cleared'];

/** Typed statements over `supervisor_events` (and `audit_log` for the operator's reset). Callers own the transaction. */
export class SupervisorStore {
  private readonly insertEvent: Statement<[number, string, number, number | null, number | null, string | null, string | null, number | null, string | null]>;
  private readonly insertAudit: Statement<[number, string, string, string | null, string]>;
  private readonly selectFailureTimes: Statement<[number, number], { at: number }>;
  private readonly countFailures: Statement<[number], { failures: number }>;
  private readonly selectRecent: Statement<[number], SupervisorEventDbRow>;
  /** Statements over a set of kinds, prepared once per set. */
  private readonly byKinds = new Map<string, Statement<unknown[]>>();

  constructor(private readonly db: Database) {
    this.insertEvent = db.prepare(
      `INSERT INTO supervisor_events (at, kind, supervisor_pid, worker_pid, exit_code, signal, cause, delay_ms, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertAudit = db.prepare('INSERT INTO audit_log (at, action, actor, reason, detail) VALUES (?, ?, ?, ?, ?)');
    this.selectFailureTimes = db.prepare(`SELECT at FROM supervisor_events WHERE kind = 'worker-failed' AND id > ? AND at > ? ORDER BY at, id`);
    this.countFailures = db.prepare(`SELECT COUNT(*) AS failures FROM supervisor_events WHERE kind = 'worker-failed' AND id > ?`);
    this.selectRecent = db.prepare('SELECT * FROM supervisor_events ORDER BY id DESC LIMIT ?');
  }

  record(event: SupervisorEventInput): number {
    const result = this.insertEvent.run(
      event.at,
      event.kind,
      event.supervisorPid,
      event.workerPid ?? null,
      event.exitCode ?? null,
      event.signal ?? null,
      event.cause ?? null,
      event.delayMs ?? null,
      event.detail ?? null,
    );
    return Number(result.lastInsertRowid);
  }

  recordAudit(at: number, action: string, actor: string, reason: string | null, detail: unknown): void {
    this.insertAudit.run(at, action, actor, reason, JSON.stringify(detail));
  }

  /** The id of the latest event of one of these kinds; 0 when there is none. */
  lastIdOf(kinds: readonly SupervisorEventKind[]): number {
    const row = this.statement(`SELECT MAX(id) AS id FROM supervisor_events WHERE kind IN (${placeholders(kinds)})`).get(...kinds) as { id: number | null };
    return row.id ?? 0;
  }

  /** The latest event of one of these kinds. */
  latestOf(kinds: readonly SupervisorEventKind[]): SupervisorEventRecord | null {
    const row = this.statement(`SELECT * FROM supervisor_events WHERE kind IN (${placeholders(kinds)}) ORDER BY id DESC LIMIT 1`).get(...kinds) as SupervisorEventDbRow | undefined;
    return row === undefined ? null : supervisorEventOf(row);
  }

  /** Times of the failures recorded after event `afterId` and later than `after`, oldest first. */
  failureTimesSince(afterId: number, after: number): number[] {
    return this.selectFailureTimes.all(afterId, after).map((row) => row.at);
  }

  failuresSince(afterId: number): number {
    return (this.countFailures.get(afterId) as { failures: number }).failures;
  }

  /** The latest events, newest first. */
  recent(limit: number): SupervisorEventRecord[] {
    return this.selectRecent.all(limit).map(supervisorEventOf);
  }

  private statement(sql: string): Statement<unknown[]> {
    let prepared = this.byKinds.get(sql);
    if (prepared === undefined) {
      prepared = this.db.prepare(sql);
      this.byKinds.set(sql, prepared);
    }
    return prepared;
  }
}

function placeholders(kinds: readonly SupervisorEventKind[]): string {
  return kinds.map(() => '?').join(', ');
}

