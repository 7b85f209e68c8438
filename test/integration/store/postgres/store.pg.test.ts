import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initialLimiterState } from '../../../../src/core/types.js';
import { StoreError } from '../../../../src/store/errors.js';
import type { Store, StoreTransaction } from '../../../../src/store/port.js';
import { openPostgresStore } from '../../../../src/store/postgres/openStore.js';
import { StoreUnavailableError } from '../../../../src/store/unavailable.js';
import { stateWith } from '../../../helpers/limiterFixtures.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/postgresDatabase.js';
import { freeLoopbackPort } from '../../../helpers/freePort.js';

const run = promisify(execFile);
const scope = 'k0123456789abcdef/claude-sonnet';

let database: TestDatabase;
let observer: pg.Pool;
const stores: Store[] = [];

async function open(host: string, poolSize = 6): Promise<Store> {
  const store = await openPostgresStore({ url: database.url, host, poolSize });
  stores.push(store);
  return store;
}

beforeAll(async () => {
  database = await createTestDatabase();
  observer = new pg.Pool({ connectionString: database.url, max: 2 });
  // The drop at the end (DROP DATABASE … WITH (FORCE)) may end a connection of this pool that is
  // still closing: the pool reports it as an error of an idle client, which is nobody's failure.
  observer.on('error', () => undefined);
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  await observer.query(
    'TRUNCATE limiter_state, usage_buckets, requests, rate_limit_events, processes, process_policies, supervisor_events',
  );
});
afterAll(async () => {
  await observer.end();
  await database.drop();
});

/** Resolves once some ratewarden session of this database waits for a lock. */
async function untilASessionWaitsForALock(): Promise<void> {
  for (;;) {
    const waiting = await observer.query(
      "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'ratewarden' AND wait_event_type = 'Lock'",
    );
    if (waiting.rowCount) return;
  }
}

function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

const budget = 40;
const estimate = 1;

/**
 * An admission at the port level, the way the warden makes one: the scope's state (created on
 * first sight) under its row lock, the window's totals, and a request recorded only if it fits.
 */
async function admitIfItFits(tx: StoreTransaction): Promise<boolean> {
  if ((await tx.limiter.readState(scope)) === null) await tx.limiter.createState(scope, stateWith({ requestBudget: budget }), tx.now);
  const totals = await tx.limiter.bucketTotalsFrom(scope, 0);
  if (totals.requests + estimate > budget) return false;
  await tx.limiter.insertAdmitted({
    scope,
    admittedAt: tx.now,
    bucketStart: 0,
    method: 'POST',
    path: '/v1/messages',
    probe: false,
    estInputTokens: 10,
    estOutputTokens: 10,
    chargeOutputTokens: 10,
    workerPid: process.pid,
  });
  await tx.limiter.addToBucket(scope, 0, 10, 10, estimate);
  return true;
}

describe('two hosts on one server', () => {
  it('admitting together on one fresh scope never exceed its budget', async () => {
    const hosts = [await open('host-a'), await open('host-b')];
    const attempts = 3 * budget;
    const outcomes = await Promise.all(Array.from({ length: attempts }, (_, index) => hosts[index % 2]!.transact(admitIfItFits)));

    expect(outcomes.filter(Boolean)).toHaveLength(budget);
    const totals = await hosts[0]!.read((tx) => tx.limiter.bucketTotalsFrom(scope, 0));
    expect(totals.requests).toBe(budget);
    const rows = await observer.query<{ n: number }>('SELECT count(*)::int AS n FROM requests WHERE scope = $1', [scope]);
    expect(rows.rows[0]?.n).toBe(budget);
  });

  it('take turns on a scope: the second host waits for the first one’s commit and sees what it admitted', async () => {
    const [first, second] = [await open('host-a'), await open('host-b')];
    await first.transact((tx) => tx.limiter.createState(scope, stateWith({ requestBudget: 1 }), tx.now));
    const firstHoldsTheScope = signal();
    const firstMayCommit = signal();
    const firstAdmits = first.transact(async (tx) => {
      await tx.limiter.readState(scope);
      firstHoldsTheScope.resolve();
      await firstMayCommit.promise;
      await tx.limiter.addToBucket(scope, 0, 1, 1, 1);
    });
    await firstHoldsTheScope.promise;
    let secondSaw: number | undefined;
    const secondAdmits = second.transact(async (tx) => {
      await tx.limiter.readState(scope);
      secondSaw = (await tx.limiter.bucketTotalsFrom(scope, 0)).requests;
    });
    await untilASessionWaitsForALock();
    expect(secondSaw).toBeUndefined();
    firstMayCommit.resolve();
    await Promise.all([firstAdmits, secondAdmits]);
    expect(secondSaw).toBe(1);
  });

  it('creating one scope at the same moment: the later one runs again and decides on the state the first committed', async () => {
    const [first, second] = [await open('host-a'), await open('host-b')];
    const firstCreated = signal();
    const firstMayCommit = signal();
    const firstCreates = first.transact(async (tx) => {
      await tx.limiter.createState(scope, stateWith({ tokenBudget: 111 }), tx.now);
      firstCreated.resolve();
      await firstMayCommit.promise;
    });
    await firstCreated.promise;
    const seenBySecond: (number | null)[] = [];
    const secondCreates = second.transact(async (tx) => {
      const state = await tx.limiter.readState(scope);
      seenBySecond.push(state?.tokenBudget ?? null);
      if (state === null) await tx.limiter.createState(scope, stateWith({ tokenBudget: 222 }), tx.now);
    });
    await untilASessionWaitsForALock();
    firstMayCommit.resolve();
    await Promise.all([firstCreates, secondCreates]);
    expect(seenBySecond).toEqual([null, 111]);
    expect((await second.read((tx) => tx.limiter.readState(scope)))?.tokenBudget).toBe(111);
  });

  it('locking two scopes in opposite orders: the server breaks the deadlock, and the one it chose runs again', async () => {
    const [a, b] = [await open('host-a'), await open('host-b')];
    const other = 'kfedcba9876543210/claude-haiku';
    await a.transact(async (tx) => {
      await tx.limiter.createState(scope, initialLimiterState, tx.now);
      await tx.limiter.createState(other, initialLimiterState, tx.now);
    });
    const aHoldsFirst = signal();
    const bHoldsSecond = signal();
    let runs = 0;
    const lockBoth = (store: Store, first: string, second: string, holding: () => void, untilOtherHolds: Promise<void>): Promise<void> =>
      store.transact(async (tx) => {
        runs += 1;
        const state = (await tx.limiter.readState(first))!;
        holding();
        await untilOtherHolds;
        await tx.limiter.readState(second);
        await tx.limiter.writeState(first, { ...state, consecutive429s: state.consecutive429s + 1 }, tx.now);
      });
    await Promise.all([
      lockBoth(a, scope, other, aHoldsFirst.resolve, bHoldsSecond.promise),
      lockBoth(b, other, scope, bHoldsSecond.resolve, aHoldsFirst.promise),
    ]);
    // Both events committed once each; one of them ran twice (the first try rolled back).
    expect(runs).toBe(3);
    expect((await a.read((tx) => tx.limiter.readState(scope)))?.consecutive429s).toBe(1);
    expect((await a.read((tx) => tx.limiter.readState(other)))?.consecutive429s).toBe(1);
  });

  it('keep their supervisor histories and policies apart, and status sees every host’s heartbeats', async () => {
    const [a, b] = [await open('host-a'), await open('host-b')];
    await a.transact((tx) => tx.supervisor.record({ at: 1, kind: 'worker-failed', supervisorPid: 100, cause: 'signal' }));
    await b.transact((tx) => tx.supervisor.record({ at: 2, kind: 'worker-started', supervisorPid: 100 }));
    expect((await a.transact((tx) => tx.supervisor.recent(10))).map((event) => event.kind)).toEqual(['worker-failed']);
    expect(await b.transact((tx) => tx.supervisor.restartEvents(null, 0))).toEqual([expect.objectContaining({ kind: 'worker-started' })]);

    // The same pid on two hosts is two processes.
    for (const store of [a, b]) {
      await store.transact(async (tx) => {
        await tx.processes.beat({ role: 'worker', pid: 4242, startedAt: tx.now, listen: null, upstream: null }, tx.now);
        await tx.processes.recordPolicy('worker', 4242, tx.now, { windowMs: 1_000 });
      });
    }
    await a.transact((tx) => tx.processes.forget('worker', 4242));
    await a.transact((tx) => tx.processes.recordPolicy('worker', 4343, tx.now, { windowMs: 2_000 }));
    expect((await b.read((tx) => tx.processes.heartbeats())).map((row) => `${row.host}:${row.pid}`)).toEqual(['host-b:4242']);
    expect((await a.read((tx) => tx.processes.policies())).map((row) => row.pid)).toEqual([4343]);
    expect((await b.read((tx) => tx.processes.policies())).map((row) => row.pid)).toEqual([4242]);
    await a.transact((tx) => tx.processes.beat({ role: 'supervisor', pid: 1, startedAt: tx.now, listen: null, upstream: null }, tx.now));
    const snapshot = await b.read((tx) => tx.status.snapshot({ bucketsFrom: 0, adjustments: 1, rateLimitEvents: 1 }, 'default'));
    expect(snapshot.processes.map((row) => `${row.host}:${row.role}:${row.pid}`)).toEqual(['host-a:supervisor:1', 'host-b:worker:4242']);
  });
});

describe('one clock for the fleet', () => {
  it('a store without a clock option takes `now` from the server, inside the transaction', async () => {
    const store = await open('host-a');
    const serverMs = async (): Promise<number> =>
      (await observer.query<{ ms: string }>('SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms')).rows[0]!
        .ms as unknown as number;
    const before = Number(await serverMs());
    const now = await store.transact(async (tx) => tx.now);
    const after = Number(await serverMs());
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(after);
  });

  it('two hosts whose clocks are an hour apart write the same time base: the server’s', async () => {
    const hourMs = 3_600_000;
    const hosts = [
      { name: 'ahead', skewMs: hourMs },
      { name: 'behind', skewMs: -hourMs },
    ];
    const script = new URL('../../../helpers/skewedHostStore.ts', import.meta.url).pathname;
    for (const host of hosts) {
      const before = Date.now();
      const { stdout } = await run(process.execPath, ['--import', 'tsx', script, database.url, String(host.skewMs), host.name]);
      const after = Date.now();
      const written = JSON.parse(stdout) as { now: number; hostNow: number };
      // The host's own clock was off by the skew; the time it wrote is the server's (this machine's).
      expect(written.hostNow - Date.now()).toBeGreaterThan(host.skewMs - 60_000);
      expect(written.hostNow - Date.now()).toBeLessThan(host.skewMs + 60_000);
      expect(written.now).toBeGreaterThanOrEqual(before - 1);
      expect(written.now).toBeLessThanOrEqual(after + 1);
    }
    const beats = await observer.query<{ host: string; heartbeat_at: string }>('SELECT host, heartbeat_at FROM processes ORDER BY host');
    expect(beats.rows.map((row) => row.host)).toEqual(['ahead', 'behind']);
    const [ahead, behind] = beats.rows.map((row) => Number(row.heartbeat_at));
    expect(Math.abs(ahead! - behind!)).toBeLessThan(hourMs);
  });
});

describe('faults', () => {
  it('a connection killed mid-transaction leaves nothing half-written, and the next transaction works', async () => {
    const store = await open('host-a');
    await store.transact((tx) => tx.limiter.createState(scope, initialLimiterState, tx.now));
    const wrote = signal();
    const killed = signal();
    const interrupted = store.transact(async (tx) => {
      await tx.limiter.addToBucket(scope, 0, 5, 5, 1);
      await tx.limiter.insertAdmitted({
        scope,
        admittedAt: tx.now,
        bucketStart: 0,
        method: 'POST',
        path: '/v1',
        probe: false,
        estInputTokens: 5,
        estOutputTokens: 5,
        chargeOutputTokens: 5,
        workerPid: 1,
      });
      await tx.limiter.writeState(scope, stateWith({ consecutive429s: 9 }), tx.now);
      wrote.resolve();
      await killed.promise;
      await tx.limiter.addToBucket(scope, 0, 5, 5, 1);
    });
    await wrote.promise;
    const terminated = await observer.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'ratewarden' AND state = 'idle in transaction'",
    );
    expect(terminated.rowCount).toBe(1);
    killed.resolve();
    const failure = await interrupted.catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StoreUnavailableError);
    expect((failure as Error).message).toMatch(/^database postgres:\/\/ratewarden:\*\*\*@.* is unavailable: /);

    expect((await observer.query('SELECT count(*)::int AS n FROM requests')).rows[0]).toEqual({ n: 0 });
    expect((await observer.query('SELECT count(*)::int AS n FROM usage_buckets')).rows[0]).toEqual({ n: 0 });
    expect((await store.transact((tx) => tx.limiter.readState(scope)))?.consecutive429s).toBe(0);
  });

  it('an unreachable server: StoreUnavailableError naming the database without its password', async () => {
    const url = new URL(database.url);
    const password = decodeURIComponent(url.password);
    url.port = String(await freeLoopbackPort());
    const refused = await openPostgresStore({ url: url.href, connectTimeoutMs: 2_000 }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StoreUnavailableError);
    expect((refused as Error).message).toContain('ratewarden:***@127.0.0.1');
    expect((refused as Error).message).not.toContain(password);
  });

  it('a wrong password: refused without the password in the message or the location', async () => {
    const url = new URL(database.url);
    url.password = 'not-the-Secret-42';
    const refused = await openPostgresStore({ url: url.href }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Error);
    expect(String((refused as Error).message)).not.toContain('not-the-Secret-42');
    const store = await open('host-a');
    expect(store.location).not.toContain(decodeURIComponent(new URL(database.url).password));
    expect(store.location).toContain('***');
  });
});

describe('the schema', () => {
  it('newer than this code: refused, for a proxy and for a reading command, nothing written', async () => {
    const fresh = await createTestDatabase();
    try {
      const store = await openPostgresStore({ url: fresh.url });
      await store.close();
      const admin = new pg.Client({ connectionString: fresh.url });
      await admin.connect();
      try {
        await admin.query("INSERT INTO ratewarden_schema_version (version, name, applied_at) VALUES (99, 'from_the_future', 0)");
        for (const readonly of [false, true]) {
          const refused = await openPostgresStore({ url: fresh.url, readonly }).catch((error: unknown) => error);
          expect(refused).toBeInstanceOf(StoreError);
          expect((refused as StoreError).problem).toBe('too-new');
        }
        expect((await admin.query('SELECT max(version) AS v FROM ratewarden_schema_version')).rows[0]).toEqual({ v: 99 });
      } finally {
        await admin.end();
      }
    } finally {
      await fresh.drop();
    }
  });

  it('a read-only open of a database never migrated: refused, and nothing created', async () => {
    const fresh = await createTestDatabase();
    try {
      const refused = await openPostgresStore({ url: fresh.url, readonly: true }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(StoreError);
      expect((refused as StoreError).problem).toBe('missing');
      const admin = new pg.Client({ connectionString: fresh.url });
      await admin.connect();
      try {
        expect((await admin.query("SELECT to_regclass('ratewarden_schema_version') AS t")).rows[0]).toEqual({ t: null });
      } finally {
        await admin.end();
      }
    } finally {
      await fresh.drop();
    }
  });

  it('an existing database at version 2 with state: opening the store brings it to 7, its state kept in the scope default', async () => {
    const fresh = await createTestDatabase();
    try {
      const { loadPostgresMigrations, migratePostgres } = await import('../../../../src/store/postgres/migrations.js');
      const pool = new pg.Pool({ connectionString: fresh.url, max: 1 });
      try {
        await migratePostgres(pool, loadPostgresMigrations().slice(0, 2), 'test');
        await pool.query('UPDATE limiter_state SET cooldown_until = 777, backoff_level = 2 WHERE id = 1');
      } finally {
        await pool.end();
      }
      const store = await openPostgresStore({ url: fresh.url });
      try {
        expect(await store.read((tx) => tx.limiter.readState('default'))).toEqual(stateWith({ cooldownUntil: 777, backoffLevel: 2 }));
        const readonly = await openPostgresStore({ url: fresh.url, readonly: true });
        const refused = await readonly
          .transact((tx) => tx.limiter.createState('other', initialLimiterState, 1))
          .catch((error: unknown) => error);
        expect(refused).toMatchObject({ code: '25006' });
        expect(refused).not.toBeInstanceOf(StoreUnavailableError);
        await readonly.close();
      } finally {
        await store.close();
      }
    } finally {
      await fresh.drop();
    }
  });
});
