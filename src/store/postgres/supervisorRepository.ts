import type { SupervisorEventInput, SupervisorEventKind, SupervisorEventRecord, SupervisorRepository } from '../port.js';
import { insertAudit } from './limiterRepository.js';
import { firstRow, rowsOf, type Queryable } from './statements.js';
import { supervisorEventOf, type SupervisorEventDbRow } from '../rows.js';

const eventColumns = 'id, at, kind, supervisor_pid, supervisor, worker_pid, exit_code, signal, cause, delay_ms, detail';

/** A supervisor's own rows and those from before migration 009, which name none; null ($2): every supervisor's of this host ($1). */
const ofSupervisor = '(host = $1 AND ($2::text IS NULL OR supervisor = $2 OR supervisor IS NULL))';

/** See SupervisorRepository.restartEvents: one read bounded by where the fold needs to start. */
const restartEventsSql = `WITH ledger AS (
    SELECT ${eventColumns} FROM supervisor_events
    WHERE host = $1 AND (kind = 'cleared'
       OR (kind IN ('worker-started', 'worker-ready', 'worker-stable', 'worker-failed', 'worker-exited', 'gave-up') AND ${ofSupervisor}))
  )
  SELECT ${eventColumns} FROM ledger
  WHERE id >= (
    SELECT MIN(id) FROM (
      SELECT COALESCE(MAX(id), 0) AS id FROM ledger WHERE kind IN ('worker-stable', 'cleared')
      UNION ALL SELECT MAX(id) FROM ledger WHERE kind IN ('worker-failed', 'worker-exited')
      UNION ALL SELECT MIN(id) FROM ledger WHERE at > $3
    ) AS starts
  )
  ORDER BY id`;

/**
 * `supervisor_events` of one host: its brakes are about this host's worker, so it writes rows
 * that name the host and reads only those. The audit of an operator's reset is shared.
 */
export class PostgresSupervisorRepository implements SupervisorRepository {
  constructor(
    private readonly client: Queryable,
    private readonly host: string,
  ) {}

  async record(event: SupervisorEventInput): Promise<number> {
    const row = await firstRow<{ id: number }>(
      this.client,
      `INSERT INTO supervisor_events (at, kind, supervisor_pid, worker_pid, exit_code, signal, cause, delay_ms, detail, host, supervisor)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
      [
        event.at,
        event.kind,
        event.supervisorPid,
        event.workerPid ?? null,
        event.exitCode ?? null,
        event.signal ?? null,
        event.cause ?? null,
        event.delayMs ?? null,
        event.detail ?? null,
        this.host,
        event.supervisor ?? null,
      ],
    );
    if (row === undefined) throw new Error('INSERT … RETURNING id returned no row');
    return row.id;
  }

  async recordAudit(at: number, action: string, actor: string, reason: string | null, detail: unknown): Promise<void> {
    await insertAudit(this.client, at, action, actor, reason, detail);
  }

  async lastIdOf(kinds: readonly SupervisorEventKind[]): Promise<number> {
    const row = await firstRow<{ id: number | null }>(
      this.client,
      'SELECT MAX(id) AS id FROM supervisor_events WHERE host = $1 AND kind = ANY($2::text[])',
      [this.host, kinds],
    );
    return row?.id ?? 0;
  }

  async restartEvents(supervisor: string | null, since: number): Promise<SupervisorEventRecord[]> {
    const rows = await rowsOf<SupervisorEventDbRow>(this.client, restartEventsSql, [this.host, supervisor, since]);
    return rows.map(supervisorEventOf);
  }

  async recent(limit: number): Promise<SupervisorEventRecord[]> {
    const rows = await rowsOf<SupervisorEventDbRow>(
      this.client,
      `SELECT ${eventColumns} FROM supervisor_events WHERE host = $1 ORDER BY id DESC LIMIT $2`,
      [this.host, limit],
    );
    return rows.map(supervisorEventOf);
  }
}
