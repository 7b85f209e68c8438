import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresPool } from '../../../../src/store/postgres/connection.js';
import { classifyPostgresError } from '../../../../src/store/postgres/errors.js';
import { inTransaction } from '../../../../src/store/postgres/transaction.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/postgresDatabase.js';
import { backendPid, waitUntilBlockedOnLock } from '../../../helpers/postgresLocks.js';
import { startPostgresServer, type PostgresServer } from '../../../helpers/postgresServer.js';
import { freeLoopbackPort } from '../../../helpers/freePort.js';

let database: TestDatabase;
let pool: pg.Pool;
const clients: pg.PoolClient[] = [];
const servers: PostgresServer[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  pool = openPostgresPool(database.url, { onIdleConnectionError: () => undefined });
  await pool.query('CREATE TABLE slots (id INTEGER PRIMARY KEY, taken INTEGER NOT NULL)');
});
afterEach(async () => {
  for (const client of clients.splice(0)) client.release(true);
  for (const server of servers.splice(0)) await server.stop();
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

const failureOf = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => {
      throw new Error('expected the database call to fail');
    },
    (error: unknown) => error,
  );

describe('classifyPostgresError on real failures', () => {
  it('a serialization failure (40001) between two SERIALIZABLE transactions: retry', async () => {
    await pool.query('TRUNCATE slots');
    const first = await connection();
    const second = await connection();
    // Write skew: each reads the table empty, then inserts; both cannot have seen the truth.
    await first.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
    await second.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
    await first.query('SELECT count(*) FROM slots');
    await second.query('SELECT count(*) FROM slots');
    await first.query('INSERT INTO slots VALUES (1, 1)');
    await second.query('INSERT INTO slots VALUES (2, 1)');
    await first.query('COMMIT');
    const error = await failureOf(second.query('COMMIT'));
    expect(error).toMatchObject({ code: '40001' });
    expect(classifyPostgresError(error)).toEqual({ kind: 'retry', reason: 'serialization failure (40001)' });
  });

  it('inTransaction rolls back and rethrows it as it came, so the event can be run again', async () => {
    await pool.query('TRUNCATE slots');
    const first = await connection();
    const second = await connection();
    await first.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
    await first.query('SELECT count(*) FROM slots');
    const error = await failureOf(
      inTransaction(second, 'SERIALIZABLE', async (client) => {
        await client.query('SELECT count(*) FROM slots');
        await first.query('INSERT INTO slots VALUES (1, 1)');
        await client.query('INSERT INTO slots VALUES (2, 1)');
        await first.query('COMMIT');
      }),
    );
    expect(classifyPostgresError(error).kind).toBe('retry');
    // The connection is usable again, outside any transaction.
    expect((await second.query<{ n: number }>('SELECT count(*)::int AS n FROM slots')).rows[0]).toEqual({ n: 1 });
  });

  it('a deadlock (40P01): retry', async () => {
    await pool.query('TRUNCATE slots');
    await pool.query('INSERT INTO slots VALUES (1, 0), (2, 0)');
    const first = await connection();
    const second = await connection();
    const observer = await connection();
    const firstPid = await backendPid(first);
    await first.query('BEGIN');
    await second.query('BEGIN');
    // The server checks for a deadlock once, deadlock_timeout after a session starts waiting:
    // the first checks after a minute, the second soon, so the second is the one cancelled.
    await first.query("SET LOCAL deadlock_timeout = '1min'");
    await second.query("SET LOCAL deadlock_timeout = '20ms'");
    await first.query('SELECT * FROM slots WHERE id = 1 FOR UPDATE');
    await second.query('SELECT * FROM slots WHERE id = 2 FOR UPDATE');
    // Each now asks for the other's row, the second only once the first is waiting.
    const firstWaits = first.query('SELECT * FROM slots WHERE id = 2 FOR UPDATE');
    await waitUntilBlockedOnLock(observer, firstPid);
    const error = await failureOf(second.query('SELECT * FROM slots WHERE id = 1 FOR UPDATE'));
    await second.query('ROLLBACK');
    await firstWaits;
    await first.query('ROLLBACK');
    expect(error).toMatchObject({ code: '40P01' });
    expect(classifyPostgresError(error)).toEqual({ kind: 'retry', reason: 'deadlock (40P01)' });
  });

  it('a lock timeout (55P03): retry', async () => {
    await pool.query('TRUNCATE slots');
    await pool.query('INSERT INTO slots VALUES (1, 0)');
    const holder = await connection();
    const waiter = await connection();
    await holder.query('BEGIN');
    await holder.query('SELECT * FROM slots WHERE id = 1 FOR UPDATE');
    await waiter.query('BEGIN');
    await waiter.query("SET LOCAL lock_timeout = '20ms'");
    const error = await failureOf(waiter.query('SELECT * FROM slots WHERE id = 1 FOR UPDATE'));
    await waiter.query('ROLLBACK');
    await holder.query('ROLLBACK');
    expect(error).toMatchObject({ code: '55P03' });
    expect(classifyPostgresError(error)).toEqual({ kind: 'retry', reason: 'lock timeout (55P03)' });
  });

  it('a connection refused on a closed port: store unavailable', async () => {
    const port = await freeLoopbackPort();
    const url = new URL(database.url);
    url.port = String(port);
    const refused = openPostgresPool(url.href, { onIdleConnectionError: () => undefined });
    try {
      const error = await failureOf(refused.query('SELECT 1'));
      expect(error).toMatchObject({ code: 'ECONNREFUSED' });
      expect(classifyPostgresError(error)).toEqual({ kind: 'unavailable', reason: 'server unreachable (ECONNREFUSED)' });
    } finally {
      await refused.end();
    }
  });

  it('a server stopped under a connected pool: the query in flight and the next connect are unavailable', async () => {
    const server = await startPostgresServer();
    servers.push(server);
    const idleErrors: Error[] = [];
    const fleetPool = openPostgresPool(server.url, { onIdleConnectionError: (error) => idleErrors.push(error) });
    try {
      const busy = await fleetPool.connect();
      const clientErrors: Error[] = [];
      busy.on('error', (error) => clientErrors.push(error));
      await busy.query('BEGIN');
      const held = busy.query('SELECT pg_sleep(3600)');
      const heldFailure = failureOf(held);
      // A fast shutdown ends every session: the query in flight fails with 57P01.
      await server.stop();
      const inFlight = await heldFailure;
      busy.release(true);
      expect(inFlight).toMatchObject({ code: '57P01' });
      expect(classifyPostgresError(inFlight)).toEqual({ kind: 'unavailable', reason: 'server shutting down (57P01)' });

      const whileDown = await failureOf(fleetPool.query('SELECT 1'));
      expect(classifyPostgresError(whileDown)).toEqual({ kind: 'unavailable', reason: 'server unreachable (ECONNREFUSED)' });
      for (const error of [...idleErrors, ...clientErrors]) expect(classifyPostgresError(error).kind).toBe('unavailable');
    } finally {
      await fleetPool.end();
    }
  });

  it('a server restarted under a pool: the query in flight fails unavailable, the pool reconnects by itself', async () => {
    const server = await startPostgresServer();
    servers.push(server);
    const idleErrors: Error[] = [];
    const fleetPool = openPostgresPool(server.url, { onIdleConnectionError: (error) => idleErrors.push(error) });
    try {
      await fleetPool.query('CREATE TABLE committed (id INTEGER PRIMARY KEY)');
      await fleetPool.query('INSERT INTO committed VALUES (1)');
      // Two connections: one goes back to the pool idle, to be broken while nobody uses it.
      const idle = await fleetPool.connect();
      const busy = await fleetPool.connect();
      idle.release();
      busy.on('error', () => undefined);
      await busy.query('BEGIN');
      await busy.query('INSERT INTO committed VALUES (2)');
      const held = failureOf(busy.query('SELECT pg_sleep(3600)'));
      await server.restart();
      const inFlight = await held;
      busy.release(true);
      expect(classifyPostgresError(inFlight).kind).toBe('unavailable');

      // No reconnect call: the next query gets a new connection. The committed row is there;
      // the one of the transaction the restart cut is not.
      const rows = await fleetPool.query<{ id: number }>('SELECT id FROM committed ORDER BY id');
      expect(rows.rows).toEqual([{ id: 1 }]);
      // The idle connection's break reached the listener rather than crashing the process.
      expect(idleErrors.length).toBeGreaterThan(0);
      for (const error of idleErrors) expect(classifyPostgresError(error).kind).toBe('unavailable');
    } finally {
      await fleetPool.end();
    }
  });

  it('the server ending a session (pg_terminate_backend, as a restart or failover does): unavailable', async () => {
    const victim = new pg.Client({ connectionString: database.url });
    const victimErrors: Error[] = [];
    victim.on('error', (error) => victimErrors.push(error));
    await victim.connect();
    try {
      const pid = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const held = failureOf(victim.query('SELECT pg_sleep(3600)'));
      await pool.query('SELECT pg_terminate_backend($1)', [pid]);
      const error = await held;
      expect(error).toMatchObject({ code: '57P01' });
      expect(classifyPostgresError(error).kind).toBe('unavailable');
      const afterwards = await failureOf(victim.query('SELECT 1'));
      expect(classifyPostgresError(afterwards)).toEqual({ kind: 'unavailable', reason: 'connection lost' });
    } finally {
      await victim.end().catch(() => undefined);
    }
  });

  it('a bug (a missing table) or a wrong password: other, never retried', async () => {
    const missing = await failureOf(pool.query('SELECT * FROM no_such_table'));
    expect(classifyPostgresError(missing)).toEqual({ kind: 'other', reason: 'database error (42P01)' });

    const url = new URL(database.url);
    url.password = 'not-the-password';
    const wrong = new pg.Client({ connectionString: url.href });
    const refused = await failureOf(wrong.connect());
    expect(refused).toMatchObject({ code: '28P01' });
    expect(classifyPostgresError(refused).kind).toBe('other');
  });
});
