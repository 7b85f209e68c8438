// The supervisor survives its store's absence on PostgreSQL (issue 26): a worker that dies while
// the server is down is restarted, the supervisor stays up, and the failure is written once the
// server is back.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../../src/store/openStore.js';
import type { SupervisorEventRecord } from '../../../src/store/port.js';
import { createTestDatabase } from '../../helpers/postgresDatabase.js';
import { startPostgresServer, type PostgresServer } from '../../helpers/postgresServer.js';
import { eventually, isAlive, useSupervisorFixtures } from '../../helpers/supervisorHarness.js';

const fixture = useSupervisorFixtures();
const servers: PostgresServer[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
});

async function eventsIn(url: string): Promise<SupervisorEventRecord[]> {
  const store = await openStore({ db: url, clock: Date.now, readonly: true });
  try {
    return (await store.read((tx) => tx.supervisor.recent(100))).reverse();
  } finally {
    await store.close();
  }
}

describe('the supervisor while its PostgreSQL server is down', () => {
  it('restarts a worker that dies meanwhile, stays up, and writes the failure once the server is back', async () => {
    const server = await startPostgresServer();
    servers.push(server);
    const f = fixture();
    const run = f.supervise({ db: server.url, stableAfter: '1h' }, ['serve']);
    await run.waitForOutput(/worker \d+ ready at/, 30_000);
    const [first] = f.workerPids();

    let second: number | undefined;
    await server.restart(async () => {
      process.kill(first as number, 'SIGKILL');
      second = await eventually('a second worker', () => f.workerPids()[1], 30_000);
      await run.waitForOutput(new RegExp(`worker ${second} ready at`), 30_000);
      await run.waitForOutput(/could not record worker-failed \(.*\); kept in memory, written when the store is back/);
      expect(isAlive(run.pid)).toBe(true);
    });

    // Written with a heartbeat once the server is back.
    let failure: SupervisorEventRecord | undefined;
    const deadline = Date.now() + 30_000;
    while (failure === undefined && Date.now() < deadline) {
      failure = (await eventsIn(server.url).catch(() => [])).find((event) => event.kind === 'worker-failed');
      if (failure === undefined) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(failure).toMatchObject({
      workerPid: first,
      cause: 'signal',
      signal: 'SIGKILL',
      delayMs: 0,
      supervisor: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    });
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });

  it('waits on the ladder, instead of exiting, while the server is read-only at its start, and starts the worker once it is writable', async () => {
    const database = await createTestDatabase();
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      // A schema in place, then the database read-only: as after a failover to a standby.
      await (await openStore({ db: database.url, clock: Date.now })).close();
      await admin.query(`ALTER DATABASE ${database.name} SET default_transaction_read_only = on`);
      const f = fixture();
      const run = f.supervise({ db: database.url, restartSec: '200ms', restartMaxDelay: '500ms' }, ['serve']);
      await run.waitForOutput(/supervisor: .*read-only.*; no worker starts without it, trying again in/);
      expect(f.workerPids()).toEqual([]);
      expect(isAlive(run.pid)).toBe(true);
      await admin.query(`ALTER DATABASE ${database.name} RESET default_transaction_read_only`);
      await run.waitForOutput(/supervisor: worker \d+ ready at/);
      run.kill('SIGTERM');
      expect((await run.exit()).exitCode).toBe(0);
    } finally {
      await admin.end();
      await database.drop();
    }
  });
});
