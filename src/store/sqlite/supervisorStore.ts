import type { Database, Statement } from 'better-sqlite3';
import type { SupervisorEventKind, SupervisorEventInput, SupervisorEventRecord } from '../port.js';
import { supervisorEventOf, type SupervisorEventDbRow } from '../rows.js';

/** A supervisor's own rows and those from before migration 009, which name none; null: every supervisor's. */
const ofSupervisor = '(@supervisor IS NULL OR supervisor = @supervisor OR supervisor IS NULL)';

/** See SupervisorRepository.restartEvents: one read bounded by where the fold needs to start. */
const restartEventsSql = `WITH ledger AS (
    SELECT * FROM supervisor_events
    WHERE kind = 'cleared'
       OR (kind IN ('worker-started', 'worker-ready', 'worker-stable', 'worker-failed', 'worker-exited', 'gave-up') AND ${ofSupervisor})
  )
  SELECT * FROM ledger
  WHERE id >= (
    SELECT MIN(id) FROM (
      SELECT COALESCE(MAX(id), 0) AS id FROM ledger WHERE kind IN ('worker-stable', 'cleared')
      UNION ALL SELECT MAX(id) FROM ledger WHERE kind IN ('worker-failed', 'worker-exited')
      UNION ALL SELECT MIN(id) FROM ledger WHERE at > @since
    ) AS starts
  )
  ORDER BY id`;

/** Typed statements over `supervisor_events` (and `audit_log` for the operator's reset). Callers own the transaction. */
export class SupervisorStore {
  private readonly insertEvent: Statement<
    [number, string, number, string | null, number | null, number | null, string | null, string | null, number | null, string | null]
  >;
  private readonly insertAudit: Statement<[number, string, string, string | null, string]>;
  private readonly selectRestartEvents: Statement<[{ supervisor: string | null; since: number }], SupervisorEventDbRow>;
  private readonly selectRecent: Statement<[number], SupervisorEventDbRow>;
  /** Statements over a set of kinds, prepared once per set. */
  private readonly byKinds = new Map<string, Statement<unknown[]>>();

  constructor(private readonly db: Database) {
    this.insertEvent = db.prepare(
      `INSERT INTO supervisor_events (at, kind, supervisor_pid, supervisor, worker_pid, exit_code, signal, cause, delay_ms, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertAudit = db.prepare('INSERT INTO audit_log (at, action, actor, reason, detail) VALUES (?, ?, ?, ?, ?)');
    this.selectRestartEvents = db.prepare(restartEventsSql);
    this.selectRecent = db.prepare('SELECT * FROM supervisor_events ORDER BY id DESC LIMIT ?');
  }

  record(event: SupervisorEventInput): number {
    const result = this.insertEvent.run(
      event.at,
      event.kind,
      event.supervisorPid,
      event.supervisor ?? null,
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
    const row = this.statement(`SELECT MAX(id) AS id FROM supervisor_events WHERE kind IN (${placeholders(kinds)})`).get(...kinds) as {
      id: number | null;
    };
    return row.id ?? 0;
  }

  /** See SupervisorRepository.restartEvents. */
  restartEvents(supervisor: string | null, since: number): SupervisorEventRecord[] {
    return this.selectRestartEvents.all({ supervisor, since }).map(supervisorEventOf);
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
