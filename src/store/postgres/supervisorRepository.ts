import type { SupervisorEventInput, SupervisorEventKind, SupervisorEventRecord, SupervisorRepository } from '../port.js';
import { insertAudit } from './limiterRepository.js';
import { firstRow, rowsOf, type Queryable } from './statements.js';
import { supervisorEventOf, type SupervisorEventDbRow } from '../rows.js';

const eventColumns = 'id, at, kind, supervisor_pid, worker_pid, exit_code, signal, cause, delay_ms, detail';

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
      `INSERT INTO supervisor_events (at, kind, supervisor_pid, worker_pid, exit_code, signal, cause, delay_ms, detail, host)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
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
      ],
    );
    if (row === undefined) throw new Error('INSERT … RETURNING id returned no row');
    return row.id;
  }

  async recordAudit(at: number, action: string, actor: string, reason: string | null, detail: unknown): Promise<void> {
    await insertAudit(this.client, at, action, actor, reason, detail);
  }

  async lastIdOf(kinds: readonly SupervisorEventKind[]): Promise<number> {
    const row = await firstRow<{ id: number | null }>(this.client, 'SELECT MAX(id) AS id FROM supervisor_events WHERE host = $1 AND kind = ANY($2::text[])', [
      this.host,
      kinds,
    ]);
    return row?.id ?? 0;
  }

  async latestOf(kinds: readonly SupervisorEventKind[]): Promise<SupervisorEventRecord | null> {
    const row = await firstRow<SupervisorEventDbRow>(
      this.client,
      `SELECT ${eventColumns} FROM supervisor_events WHERE host = $1 AND kind = ANY($2::text[]) ORDER BY id DESC LIMIT 1`,
      [this.host, kinds],
    );
    return row === undefined ? null : supervisorEventOf(row);
  }

  async failureTimesSince(afterId: number, after: number): Promise<number[]> {
    const rows = await rowsOf<{ at: number }>(
      this.client,
      "SELECT at FROM supervisor_events WHERE host = $1 AND kind = 'worker-failed' AND id > $2 AND at > $3 ORDER BY at, id",
      [this.host, afterId, after],
    );
    return rows.map((row) => row.at);
  }

  async failuresSince(afterId: number): Promise<number> {
    const row = await firstRow<{ failures: number }>(
      this.client,
      "SELECT COUNT(*) AS failures FROM supervisor_events WHERE host = $1 AND kind = 'worker-failed' AND id > $2",
      [this.host, afterId],
    );
    return row?.failures ?? 0;
  }

  async recent(limit: number): Promise<SupervisorEventRecord[]> {
    const rows = await rowsOf<SupervisorEventDbRow>(this.client, `SELECT ${eventColumns} FROM supervisor_events WHERE host = $1 ORDER BY id DESC LIMIT $2`, [this.host, limit]);
    return rows.map(supervisorEventOf);
  }
}

