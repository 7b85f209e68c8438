import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../../../src/store/port.js';
import { openPostgresStore } from '../../../../src/store/postgres/openStore.js';
import { StoreUnavailableError } from '../../../../src/store/unavailable.js';
import { startPostgresServer, type PostgresServer } from '../../../helpers/postgresServer.js';

// A server of this file's own: restarting the run's shared one would fail the other files.
let server: PostgresServer;
let url: string;
let password: string;

beforeAll(async () => {
  server = await startPostgresServer();
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query('CREATE DATABASE restart_test');
  await admin.end();
  const parsed = new URL(server.url);
  parsed.pathname = '/restart_test';
  url = parsed.href;
  password = decodeURIComponent(parsed.password);
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

const scope = 'default';

async function recordOne(store: Store): Promise<number> {
  return store.transact((tx) =>
    tx.limiter.insertAdmitted({
      scope,
      admittedAt: tx.now,
      bucketStart: 0,
      method: 'POST',
      path: '/v1',
      probe: false,
      estInputTokens: 1,
      estOutputTokens: 1,
      chargeOutputTokens: 1,
      workerPid: 1,
    }),
  );
}

describe('the server restarted under a running store', () => {
  it('fails closed while it is down, then works again by itself, with nothing lost or counted twice', async () => {
    const store = await openPostgresStore({ url, host: 'restart-host', poolSize: 4, connectTimeoutMs: 2_000 });
    try {
      const before = await recordOne(store);
      const committed = new Set<number>([before]);
      let mayHaveCommitted = 0;

      // Load: writers that keep recording until told to stop, across the restart.
      let stopping = false;
      const failures: Error[] = [];
      const writer = async (): Promise<void> => {
        while (!stopping) {
          try {
            committed.add(await recordOne(store));
          } catch (error) {
            if (!(error instanceof StoreUnavailableError)) throw error;
            failures.push(error);
            if (/may or may not be recorded/.test(error.message)) mayHaveCommitted += 1;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      };
      const writers = Array.from({ length: 3 }, writer);
      while (committed.size < 20) await new Promise((resolve) => setTimeout(resolve, 5));

      await server.restart(async () => {
        const down = await recordOne(store).catch((error: unknown) => error);
        expect(down).toBeInstanceOf(StoreUnavailableError);
        expect((down as Error).message).toMatch(/^database postgres:\/\/ratewarden:\*\*\*@127\.0\.0\.1:\d+\/restart_test is unavailable: /);
        expect((down as Error).message).not.toContain(password);
        await expect(store.maintain()).rejects.toBeInstanceOf(StoreUnavailableError);
      });

      // Back: the pool reconnects by itself; the first transaction after the restart works.
      const after = await recordOne(store);
      committed.add(after);
      await store.maintain();
      stopping = true;
      await Promise.all(writers);

      expect(failures.length).toBeGreaterThan(0);
      for (const failure of failures) expect(failure.message).not.toContain(password);
      const rows = await store.read(async (tx) => (await tx.reported.inFlightSince(scope, 0)).requests);
      // Every acknowledged commit survived; at most the ones whose COMMIT went unanswered were
      // recorded without an acknowledgement; none twice (each attempt is one row at most).
      expect(rows).toBeGreaterThanOrEqual(committed.size);
      expect(rows - committed.size).toBeLessThanOrEqual(mayHaveCommitted);
      for (const id of [before, after]) expect(await store.read((tx) => tx.limiter.findRequest(id))).not.toBeNull();
    } finally {
      await store.close();
    }
  });
});
