import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readServerClockMs } from '../../../../src/store/postgres/clock.js';
import { openPostgresPool } from '../../../../src/store/postgres/connection.js';
import { loadPostgresMigrations, migratePostgres } from '../../../../src/store/postgres/migrations.js';
import { inTransaction } from '../../../../src/store/postgres/transaction.js';
import { redactPostgresUrl } from '../../../../src/store/postgres/url.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/postgresDatabase.js';
import { backendPid, waitUntilBlockedOnLock } from '../../../helpers/postgresLocks.js';

let database: TestDatabase;
let pool: pg.Pool;
const clients: pg.PoolClient[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  pool = openPostgresPool(database.url, { onIdleConnectionError: () => undefined, maxConnections: 6 });
  await migratePostgres(pool, loadPostgresMigrations(), redactPostgresUrl(database.url));
});
afterEach(() => {
  // Destroyed, not returned: a failed test may leave one inside a transaction.
  for (const client of clients.splice(0)) client.release(true);
});
afterAll(async () => {
  await pool.end();
  await database.drop();
});

async function connection(): Promise<pg.PoolClient> {
  const client = await pool.connect();
  clients.push(client);
  return client;
}

describe('a connection from a postgres:// URL', () => {
  it('reaches the server with the credentials in the URL, named ratewarden in pg_stat_activity', async () => {
    const client = await connection();
    const session = await client.query<{ db: string; app: string }>(
      'SELECT current_database() AS db, application_name AS app FROM pg_stat_activity WHERE pid = pg_backend_pid()',
    );
    expect(session.rows[0]).toEqual({ db: database.name, app: 'ratewarden' });
  });
});

describe('the server clock', () => {
  it('is milliseconds since the Unix epoch (the test server shares this host clock)', async () => {
    const before = Date.now();
    const server = await readServerClockMs(await connection());
    const after = Date.now();
    expect(Number.isInteger(server)).toBe(true);
    // The same machine's clock, read between two host readings; a millisecond of rounding aside.
    expect(server).toBeGreaterThanOrEqual(before - 1);
    expect(server).toBeLessThanOrEqual(after + 1);
  });

  it('follows the row lock: a transaction that waited reads a time after the holder committed, not its start', async () => {
    const holder = await connection();
    const waiter = await connection();
    const observer = await connection();

    await holder.query('BEGIN');
    await holder.query("SELECT scope FROM limiter_state WHERE scope = 'default' FOR UPDATE");
    const waiterPid = await backendPid(waiter);
    await waiter.query('BEGIN');
    const waiterStart = Number(
      (await waiter.query<{ ms: string }>('SELECT floor(extract(epoch FROM now()) * 1000)::bigint AS ms')).rows[0]!.ms,
    );
    const waiting = waiter.query("SELECT scope FROM limiter_state WHERE scope = 'default' FOR UPDATE");
    await waitUntilBlockedOnLock(observer, waiterPid);

    // The holder's event time, strictly after the waiter's transaction began.
    let holderTime = await readServerClockMs(holder);
    while (holderTime <= waiterStart) holderTime = await readServerClockMs(holder);
    await holder.query("UPDATE limiter_state SET updated_at = $1 WHERE scope = 'default'", [holderTime]);
    await holder.query('COMMIT');

    await waiting;
    const waiterTime = await readServerClockMs(waiter);
    await waiter.query('COMMIT');
    expect(waiterTime).toBeGreaterThanOrEqual(holderTime);
    expect(waiterStart).toBeLessThan(holderTime);
  });
});

describe('SELECT … FOR UPDATE on the limiter row', () => {
  it('serialises two connections: the second waits for the first to commit and sees its write', async () => {
    const first = await connection();
    const second = await connection();
    const observer = await connection();
    await first.query("UPDATE limiter_state SET consecutive_429s = 0 WHERE scope = 'default'");

    const secondPid = await backendPid(second);
    await first.query('BEGIN');
    const seenByFirst = await first.query<{ n: number }>(
      "SELECT consecutive_429s AS n FROM limiter_state WHERE scope = 'default' FOR UPDATE",
    );
    await second.query('BEGIN');
    let secondHasLock = false;
    const seenBySecond = second
      .query<{ n: number }>("SELECT consecutive_429s AS n FROM limiter_state WHERE scope = 'default' FOR UPDATE")
      .then((result) => {
        secondHasLock = true;
        return result;
      });
    await waitUntilBlockedOnLock(observer, secondPid);
    expect(secondHasLock).toBe(false);

    await first.query("UPDATE limiter_state SET consecutive_429s = $1 WHERE scope = 'default'", [seenByFirst.rows[0]!.n + 1]);
    await first.query('COMMIT');
    const second429s = (await seenBySecond).rows[0]!.n;
    await second.query("UPDATE limiter_state SET consecutive_429s = $1 WHERE scope = 'default'", [second429s + 1]);
    await second.query('COMMIT');

    expect(second429s).toBe(1);
    expect((await observer.query('SELECT consecutive_429s AS n FROM limiter_state')).rows[0]).toEqual({ n: 2 });
  });

  it('loses no update when many read-decide-write transactions race on the row', async () => {
    await pool.query("UPDATE limiter_state SET refused_budget_total = 0 WHERE scope = 'default'");
    const increments = 40;
    await Promise.all(
      Array.from({ length: increments }, async () => {
        const client = await pool.connect();
        try {
          await inTransaction(client, 'READ COMMITTED', async () => {
            const row = await client.query<{ total: string }>(
              "SELECT refused_budget_total AS total FROM limiter_state WHERE scope = 'default' FOR UPDATE",
            );
            await client.query("UPDATE limiter_state SET refused_budget_total = $1 WHERE scope = 'default'", [
              Number(row.rows[0]!.total) + 1,
            ]);
          });
        } finally {
          client.release();
        }
      }),
    );
    expect((await pool.query('SELECT refused_budget_total AS total FROM limiter_state')).rows[0]).toEqual({ total: String(increments) });
  });
});
