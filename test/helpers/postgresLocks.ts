import type pg from 'pg';

export const backendPid = async (client: pg.ClientBase): Promise<number> =>
  (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

/**
 * Resolves once the backend `pid` is waiting for a lock, as seen from `observer`: the handshake
 * that makes a lock race real by construction. Ask for the pid (backendPid) before the blocking
 * query is sent: node-postgres queues a client's queries behind the one in flight.
 */
export async function waitUntilBlockedOnLock(observer: pg.ClientBase, pid: number): Promise<void> {
  for (;;) {
    const state = await observer.query<{ wait_event_type: string | null }>('SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1', [
      pid,
    ]);
    if (state.rows[0]?.wait_event_type === 'Lock') return;
  }
}
