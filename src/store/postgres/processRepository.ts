import type { HeartbeatRow, ProcessRole } from '../../core/processLiveness.js';
import { parseQueueState, type QueueState } from '../../core/queueState.js';
import type { ProcessInfo, ProcessRepository, RecordedPolicyRow } from '../port.js';
import { rowsOf, run, type Queryable } from './statements.js';

interface HeartbeatDbRow {
  host: string;
  role: ProcessRole;
  pid: number;
  started_at: number;
  heartbeat_at: number;
  listen: string | null;
  upstream: string | null;
  queue: string | null;
}

/**
 * `processes` and `process_policies` on a server shared by hosts. A pid means something only on
 * its own host, so this host writes and prunes only rows that name it, and reads back only its
 * own policies (a reading command matches them with pids alive here); heartbeats() is every
 * host's, so that status shows the whole fleet.
 */
export class PostgresProcessRepository implements ProcessRepository {
  constructor(
    private readonly client: Queryable,
    private readonly host: string,
  ) {}

  async beat(info: ProcessInfo, now: number, queue: QueueState | null = null): Promise<void> {
    await run(
      this.client,
      `INSERT INTO processes (host, role, pid, started_at, heartbeat_at, listen, upstream, queue) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (host, role, pid) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, listen = excluded.listen, upstream = excluded.upstream, queue = excluded.queue`,
      [this.host, info.role, info.pid, info.startedAt, now, info.listen, info.upstream, queue === null ? null : JSON.stringify(queue)],
    );
  }

  async forget(role: ProcessRole, pid: number): Promise<void> {
    await run(this.client, 'DELETE FROM processes WHERE host = $1 AND role = $2 AND pid = $3', [this.host, role, pid]);
  }

  /** Also drops this host's rows of stopped processes of the role (those without a heartbeat row). */
  async recordPolicy(role: ProcessRole, pid: number, now: number, policy: object): Promise<void> {
    await run(
      this.client,
      'DELETE FROM process_policies p WHERE p.host = $1 AND p.role = $2 AND p.pid <> $3 AND NOT EXISTS (SELECT 1 FROM processes q WHERE q.host = p.host AND q.role = p.role AND q.pid = p.pid)',
      [this.host, role, pid],
    );
    await run(
      this.client,
      `INSERT INTO process_policies (host, role, pid, written_at, policy) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (host, role, pid) DO UPDATE SET written_at = excluded.written_at, policy = excluded.policy`,
      [this.host, role, pid, now, JSON.stringify(policy)],
    );
  }

  /** This host's, newest first. */
  async policies(): Promise<RecordedPolicyRow[]> {
    const rows = await rowsOf<{ role: ProcessRole; pid: number; written_at: number; policy: string }>(
      this.client,
      'SELECT role, pid, written_at, policy FROM process_policies WHERE host = $1 ORDER BY written_at DESC, pid DESC',
      [this.host],
    );
    return rows.map((row) => ({
      role: row.role,
      pid: row.pid,
      writtenAt: row.written_at,
      policy: JSON.parse(row.policy) as Record<string, unknown>,
    }));
  }

  async heartbeats(): Promise<HeartbeatRow[]> {
    return heartbeatsOf(this.client);
  }
}

/** Every host's heartbeats, each naming its host. */
export async function heartbeatsOf(client: Queryable): Promise<HeartbeatRow[]> {
  const rows = await rowsOf<HeartbeatDbRow>(
    client,
    'SELECT host, role, pid, started_at, heartbeat_at, listen, upstream, queue FROM processes ORDER BY host, role, pid',
  );
  return rows.map((row) => ({
    host: row.host,
    role: row.role,
    pid: row.pid,
    startedAt: row.started_at,
    heartbeatAt: row.heartbeat_at,
    listen: row.listen,
    upstream: row.upstream,
    queue: parseQueueState(row.queue),
  }));
}
