import BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../../../src/store/errors.js';
import { latestSchemaVersion } from '../../../../src/store/migrations.js';
import { applyMigrations, loadSqliteMigrations } from '../../../../src/store/sqlite/migrations.js';
import { openPostgresPool } from '../../../../src/store/postgres/connection.js';
import { loadPostgresMigrations, migratePostgres, readSchemaVersion } from '../../../../src/store/postgres/migrations.js';
import { redactPostgresUrl } from '../../../../src/store/postgres/url.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/postgresDatabase.js';

const migrations = loadPostgresMigrations();
/** The schema version every migration brings a database to. */
const latest = latestSchemaVersion(migrations);
const tablesWithHost = ['process_policies', 'processes', 'supervisor_events'];
const pools: pg.Pool[] = [];
let database: TestDatabase;

const openPool = (url: string): pg.Pool => {
  const pool = openPostgresPool(url, { onIdleConnectionError: () => undefined });
  pools.push(pool);
  return pool;
};

beforeAll(async () => {
  database = await createTestDatabase();
});
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.end()));
});
afterAll(async () => {
  await database.drop();
});

const freshDatabases: TestDatabase[] = [];
afterAll(async () => {
  for (const fresh of freshDatabases) await fresh.drop();
});

/** A database of its own for one test, dropped with the file's. */
async function freshDatabase(): Promise<TestDatabase> {
  const fresh = await createTestDatabase();
  freshDatabases.push(fresh);
  return fresh;
}

describe('the PostgreSQL migrations', () => {
  it('are numbered like the SQLite ones they port, up to the same version', () => {
    const sqliteVersions = loadSqliteMigrations().map((migration) => `${migration.version}_${migration.name}`);
    const postgresVersions = migrations.map((migration) => `${migration.version}_${migration.name}`);
    expect(postgresVersions).toEqual(sqliteVersions.slice(0, postgresVersions.length));
    expect(latestSchemaVersion(migrations)).toBe(latestSchemaVersion(loadSqliteMigrations()));
  });

  it('create the same tables, columns, nullability and indexes as SQLite at the same version, plus the host columns', async () => {
    const pool = openPool(database.url);
    expect(await migratePostgres(pool, migrations, redactPostgresUrl(database.url))).toBe(latest);

    // SQLite at the version the PostgreSQL migrations have reached (they port SQLite's in order, and may lag behind).
    const sqlite = new BetterSqlite3(':memory:');
    try {
      applyMigrations(
        sqlite,
        loadSqliteMigrations().filter((migration) => migration.version <= latestSchemaVersion(migrations)),
      );
      expect(sqlite.pragma('user_version', { simple: true })).toBe(latestSchemaVersion(migrations));
      const sqliteTables = (
        sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]
      ).map((row) => row.name);
      const postgresTables = (
        await pool.query<{ name: string }>(
          "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'ratewarden_schema_version' ORDER BY table_name",
        )
      ).rows.map((row) => row.name);
      expect(postgresTables).toEqual(sqliteTables);

      for (const table of sqliteTables) {
        const sqliteColumns = (sqlite.prepare(`PRAGMA table_info(${table})`).all() as { name: string; notnull: number; pk: number }[]).map(
          (column) => `${column.name} ${column.notnull || column.pk ? 'NOT NULL' : 'NULL'}`,
        );
        const postgresColumns = (
          await pool.query<{ name: string; is_nullable: string }>(
            'SELECT column_name AS name, is_nullable FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position',
            [table],
          )
        ).rows.map((column) => `${column.name} ${column.is_nullable === 'YES' ? 'NULL' : 'NOT NULL'}`);
        // The one difference by design: the rows about processes name the host that wrote them.
        const expected = tablesWithHost.includes(table) ? [...sqliteColumns, 'host NOT NULL'] : sqliteColumns;
        // Compared as sets: a column added after the host column (010's processes.queue) follows it on PostgreSQL.
        expect([...postgresColumns].sort(), table).toEqual([...expected].sort());
      }
      for (const table of ['processes', 'process_policies']) {
        const key = await pool.query<{ columns: string }>(
          `SELECT string_agg(a.attname, ',' ORDER BY k.ord) AS columns
           FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
           WHERE i.indrelid = $1::regclass AND i.indisprimary`,
          [table],
        );
        expect(key.rows[0]?.columns, table).toBe('host,role,pid');
      }

      const sqliteIndexes = (
        sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name").all() as { name: string }[]
      ).map((row) => row.name);
      const postgresIndexes = (
        await pool.query<{ name: string }>(
          "SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey' ORDER BY indexname",
        )
      ).rows.map((row) => row.name);
      expect(postgresIndexes).toEqual([...sqliteIndexes, 'supervisor_events_by_host'].sort());
      const bySupervisor = await pool.query<{ definition: string }>(
        "SELECT indexdef AS definition FROM pg_indexes WHERE indexname = 'supervisor_events_by_supervisor'",
      );
      expect(bySupervisor.rows[0]?.definition).toMatch(/\(host, supervisor, id\)/);
    } finally {
      sqlite.close();
    }
  });

  it('keep times in milliseconds as BIGINT and the CHECK constraints of SQLite', async () => {
    const pool = openPool(database.url);
    await migratePostgres(pool, migrations, redactPostgresUrl(database.url));
    await pool.query("INSERT INTO limiter_state (scope, created_at, updated_at) VALUES ('checks', 0, 0)");
    const cooldown = await pool.query<{ data_type: string }>(
      "SELECT data_type FROM information_schema.columns WHERE table_name = 'limiter_state' AND column_name = 'cooldown_until'",
    );
    expect(cooldown.rows[0]?.data_type).toBe('bigint');
    // A time past 2038 in milliseconds, far beyond a 32-bit integer.
    await pool.query("UPDATE limiter_state SET cooldown_until = $1 WHERE scope = 'checks'", [4_102_444_800_000]);
    expect((await pool.query("SELECT cooldown_until FROM limiter_state WHERE scope = 'checks'")).rows[0]).toEqual({
      cooldown_until: '4102444800000',
    });

    await expect(pool.query("INSERT INTO fingerprint_secret (id, secret) VALUES (2, 'x')")).rejects.toMatchObject({ code: '23514' });
    await expect(
      pool.query(
        "INSERT INTO reported_remaining (scope, dimension, remaining, reset_at, seen_at, admitted_since, rounding_slack, refill) VALUES ('checks', 'tokens', 1, 0, 0, 0, 0, 'leaky')",
      ),
    ).rejects.toMatchObject({ code: '23514' });
    await expect(
      pool.query("INSERT INTO process_policies (host, role, pid, written_at, policy) VALUES ('h', 'worker', 1, 0, '[1]')"),
    ).rejects.toMatchObject({ code: '23514' });
    await expect(
      pool.query(
        "INSERT INTO requests (admitted_at, bucket_start, method, path, outcome, est_input_tokens, est_output_tokens) VALUES (0, 0, 'POST', '/v1', 'bogus', 1, 1)",
      ),
    ).rejects.toMatchObject({ code: '23514' });
    await expect(
      pool.query("INSERT INTO processes (host, role, pid, started_at, heartbeat_at) VALUES ('h', 'bystander', 1, 0, 0)"),
    ).rejects.toMatchObject({ code: '23514' });
  });

  it('migrate a database once: opening it again changes nothing', async () => {
    const fresh = await freshDatabase();
    const first = openPool(fresh.url);
    expect(await migratePostgres(first, migrations, redactPostgresUrl(fresh.url))).toBe(latest);
    await first.query("UPDATE limiter_state SET consecutive_429s = 3, updated_at = 17 WHERE scope = 'default'");

    const again = openPool(fresh.url);
    expect(await migratePostgres(again, migrations, redactPostgresUrl(fresh.url))).toBe(latest);
    const versions = await again.query<{ version: number; name: string }>(
      'SELECT version, name FROM ratewarden_schema_version ORDER BY version',
    );
    expect(versions.rows).toEqual(migrations.map((migration) => ({ version: migration.version, name: migration.name })));
    expect((await again.query('SELECT consecutive_429s, updated_at FROM limiter_state')).rows).toEqual([
      { consecutive_429s: 3, updated_at: '17' },
    ]);
  });

  it('apply each migration once when several proxies start together', async () => {
    const fresh = await freshDatabase();
    const starters = [openPool(fresh.url), openPool(fresh.url), openPool(fresh.url)];
    const versions = await Promise.all(starters.map((pool) => migratePostgres(pool, migrations, redactPostgresUrl(fresh.url))));
    expect(versions).toEqual([latest, latest, latest]);
    const applied = await starters[0]!.query('SELECT count(*)::int AS n FROM ratewarden_schema_version');
    expect(applied.rows[0]).toEqual({ n: migrations.length });
  });

  it('bring a database at version 1 up to version 2', async () => {
    const fresh = await freshDatabase();
    const pool = openPool(fresh.url);
    expect(await migratePostgres(pool, migrations.slice(0, 1), redactPostgresUrl(fresh.url))).toBe(1);
    expect(await migratePostgres(pool, migrations.slice(0, 2), redactPostgresUrl(fresh.url))).toBe(2);
    const index = await pool.query("SELECT 1 FROM pg_indexes WHERE indexname = 'rate_limit_events_by_request'");
    expect(index.rowCount).toBe(1);
  });

  it('bring a database at version 2 that holds state up to the latest: the single row becomes the scope default, nothing lost', async () => {
    const fresh = await freshDatabase();
    const pool = openPool(fresh.url);
    expect(await migratePostgres(pool, migrations.slice(0, 2), redactPostgresUrl(fresh.url))).toBe(2);
    await pool.query(
      'UPDATE limiter_state SET consecutive_429s = 2, backoff_level = 1, cooldown_until = 5000, token_budget = 9000, updated_at = 40 WHERE id = 1',
    );
    await pool.query(
      'INSERT INTO usage_buckets (start, input_tokens, output_tokens, requests) VALUES (1000, 10, 20, 1), (2000, 30, 40, 2)',
    );
    await pool.query(
      "INSERT INTO requests (admitted_at, bucket_start, method, path, est_input_tokens, est_output_tokens) VALUES (1000, 1000, 'POST', '/v1/messages', 10, 20)",
    );
    await pool.query("INSERT INTO processes (role, pid, started_at, heartbeat_at) VALUES ('worker', 77, 1, 2)");

    expect(await migratePostgres(pool, migrations, redactPostgresUrl(fresh.url))).toBe(latest);
    expect(
      (
        await pool.query(
          'SELECT scope, consecutive_429s, backoff_level, cooldown_until, token_budget, created_at, updated_at FROM limiter_state',
        )
      ).rows,
    ).toEqual([
      {
        scope: 'default',
        consecutive_429s: 2,
        backoff_level: 1,
        cooldown_until: '5000',
        token_budget: '9000',
        created_at: '40',
        updated_at: '40',
      },
    ]);
    expect((await pool.query('SELECT scope, start, input_tokens, output_tokens, requests FROM usage_buckets ORDER BY start')).rows).toEqual(
      [
        { scope: 'default', start: '1000', input_tokens: '10', output_tokens: '20', requests: '1' },
        { scope: 'default', start: '2000', input_tokens: '30', output_tokens: '40', requests: '2' },
      ],
    );
    expect((await pool.query('SELECT scope, outcome, model FROM requests')).rows).toEqual([
      { scope: 'default', outcome: 'in-flight', model: null },
    ]);
    expect((await pool.query('SELECT host, role, pid FROM processes')).rows).toEqual([{ host: '', role: 'worker', pid: 77 }]);
    const secret = await pool.query<{ secret: string }>('SELECT secret FROM fingerprint_secret');
    expect(secret.rows[0]?.secret).toMatch(/^[0-9a-f]{64}$/);
    const identity = await pool.query<{ database_id: string }>('SELECT database_id FROM store_identity');
    expect(identity.rows[0]?.database_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('refuse a newer schema with one line that names it, leaving the database untouched', async () => {
    const fresh = await freshDatabase();
    const pool = openPool(fresh.url);
    await migratePostgres(pool, migrations, redactPostgresUrl(fresh.url));
    await pool.query("INSERT INTO ratewarden_schema_version (version, name, applied_at) VALUES ($1, 'from_the_future', 0)", [latest + 2]);

    const shown = redactPostgresUrl(fresh.url);
    const refused = await migratePostgres(pool, migrations, shown).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StoreError);
    expect((refused as StoreError).problem).toBe('too-new');
    const message = (refused as StoreError).message;
    expect(message).toBe(
      `database ${shown} has schema version ${latest + 2}, newer than this ratewarden understands (${latest}); upgrade ratewarden, or point --db at another database`,
    );
    expect(message).not.toContain(new URL(fresh.url).password);
    expect(await readSchemaVersion(pool)).toBe(latest + 2);
    expect((await pool.query('SELECT count(*)::int AS n FROM ratewarden_schema_version')).rows[0]).toEqual({ n: migrations.length + 1 });
  });

  it('roll a failing migration back whole: no half-applied schema, no version recorded', async () => {
    const fresh = await freshDatabase();
    const pool = openPool(fresh.url);
    const broken = [
      ...migrations,
      { version: latest + 1, name: 'broken', sql: 'CREATE TABLE half_done (id INTEGER); SELECT no_such_function();' },
    ];
    await expect(migratePostgres(pool, broken, redactPostgresUrl(fresh.url))).rejects.toMatchObject({ code: '42883' });
    expect(await readSchemaVersion(pool)).toBe(latest);
    expect((await pool.query("SELECT to_regclass('half_done') AS t")).rows[0]).toEqual({ t: null });
  });
});
