// Every PostgreSQL query has a deadline (issue 26): a statement the server runs too long is ended
// by the server (57014), and a server that does not answer at all (frozen) by the client; both are
// "store unavailable" (503), never a hang and never "a bug in ratewarden".
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresPool } from '../../../../src/store/postgres/connection.js';
import { classifyPostgresError } from '../../../../src/store/postgres/errors.js';
import { openStore } from '../../../../src/store/openStore.js';
import type { Store } from '../../../../src/store/port.js';
import { StoreUnavailableError } from '../../../../src/store/unavailable.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/postgresDatabase.js';

let database: TestDatabase;
const stores: Store[] = [];
const relays: FreezableRelay[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
});
afterEach(async () => {
  for (const relay of relays.splice(0)) relay.close();
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});
afterAll(async () => {
  await database.drop();
});

/** A TCP relay in front of the server that can freeze: bytes stop flowing both ways, new connections are taken and never answered. */
class FreezableRelay {
  private frozen = false;
  private readonly sockets = new Set<Socket>();
  private constructor(private readonly server: Server) {}

  static async start(target: { host: string; port: number }): Promise<{ relay: FreezableRelay; port: number }> {
    const server = createServer();
    const relay = new FreezableRelay(server);
    server.on('connection', (client) => {
      relay.sockets.add(client);
      client.on('error', () => undefined);
      if (relay.frozen) return;
      const upstream = connect(target);
      relay.sockets.add(upstream);
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      client.on('data', (chunk) => {
        if (!relay.frozen) upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (!relay.frozen) client.write(chunk);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return { relay, port: typeof address === 'object' && address !== null ? address.port : 0 };
  }

  freeze(): void {
    this.frozen = true;
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
  }
}

describe('query deadlines on PostgreSQL', () => {
  it('classifies a statement timeout (57014) as the store unavailable, not a bug', async () => {
    const pool = openPostgresPool(database.url, { onIdleConnectionError: () => undefined });
    try {
      const client = await pool.connect();
      try {
        await client.query("SET statement_timeout = '50ms'");
        const error = await client.query('SELECT pg_sleep(2)').then(
          () => null,
          (failure: unknown) => failure,
        );
        expect(error).toMatchObject({ code: '57014' });
        expect(classifyPostgresError(error)).toEqual({ kind: 'unavailable', reason: 'statement cancelled (statement_timeout) (57014)' });
      } finally {
        client.release(true);
      }
    } finally {
      await pool.end();
    }
  });

  it('gives every session a statement timeout', async () => {
    const pool = openPostgresPool(database.url, { onIdleConnectionError: () => undefined });
    try {
      const { rows } = await pool.query<{ statement_timeout: string }>('SHOW statement_timeout');
      expect(rows[0]?.statement_timeout).not.toBe('0');
    } finally {
      await pool.end();
    }
  });

  it('fails an event closed with StoreUnavailableError when the server freezes, instead of waiting for it', async () => {
    const url = new URL(database.url);
    const { relay, port } = await FreezableRelay.start({ host: url.hostname, port: Number(url.port) });
    relays.push(relay);
    url.port = String(port);
    const store = await openStore({ db: url.toString(), clock: Date.now });
    stores.push(store);
    await store.transact((tx) => tx.processes.beat({ role: 'worker', pid: 1, startedAt: 0, listen: null, upstream: null }, tx.now));

    relay.freeze();
    const outcome = await store
      .transact((tx) => tx.processes.beat({ role: 'worker', pid: 1, startedAt: 0, listen: null, upstream: null }, tx.now))
      .then(
        () => 'recorded',
        (error: unknown) => error,
      );
    expect(outcome).toBeInstanceOf(StoreUnavailableError);
  }, 60_000);
});
