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
    expect(latestSchemaVersion(migrations)).toBe(2);
  });

  it('create the same tables, columns, nullability and indexes as SQLite at the same version', async () => {
    const pool = openPool(database.url);
    expect(await migratePostgres(pool, migrations, redactPostgresUrl(database.url))).toBe(2);

    // SQLite at the version the PostgreSQL migrations have reached (they port SQLite's in order, and may lag behind).
    const sqlite = new BetterSqlite3(':memory:');
    try {
      applyMigrations(sqlite, loadSqliteMigrations().filter((migration) => migration.version <= latestSchemaVersion(migrations)));
      expect(sqlite.pragma('user_version', { simple: true })).toBe(latestSchemaVersion(migrations));
      const sqliteTables = (sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[])
        .map((row) => row.name);
      const postgresTables = (
        await pool.query<{ name: string }>(
          "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'ratewarden_schema_version' ORDER BY table_name",
        )
      ).rows.map((row) => row.name);
      expect(postgresTables).toEqual(sqliteTables);

      for (const table of sqliteTables) {
        const sqliteColumns = (sqlite.prepare(`PRAGMA table_info(${table})`).all() as { name: string; notnull: number; pk: number }[])
          .map((column) => `${column.name} ${column.notnull || column.pk ? 'NOT NULL' : 'NULL'}`);
        const postgresColumns = (
          await pool.query<{ name: string; is_nullable: string }>(
            "SELECT column_name AS name, is_nullable FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
            [table],
          )
        ).rows.map((column) => `${column.name} ${column.is_nullable === 'YES' ? 'NULL' : 'NOT NULL'}`);
        expect(postgresColumns, table).toEqual(sqliteColumns);
      }

      const sqliteIndexes = (sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name").all() as { name: string }[])
        .map((row) => row.name);
      const postgresIndexes = (
        await pool.query<{ name: string }>("SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey' ORDER BY indexname")
      ).rows.map((row) => row.name);
      expect(postgresIndexes).toEqual(sqliteIndexes);
    } finally {
      sqlite.close();
    }
  });

  it('keep times in milliseconds as BIGINT and the CHECK constraints of SQLite', async () => {
    const pool = openPool(database.url);
    await migratePostgres(pool, migrations, redactPostgresUrl(database.url));
    const cooldown = await pool.query<{ data_type: string }>(
      "SELECT data_type FROM information_schema.columns WHERE table_name = 'limiter_state' AND column_name = 'cooldown_until'",
    );
    expect(cooldown.rows[0]?.data_type).toBe('bigint');
    // A time past 2038 in milliseconds, far beyond a 32-bit integer.
    await pool.query('UPDATE limiter_state SET cooldown_until = $1 WHERE id = 1', [4_102_444_800_000]);
    expect((await pool.query('SELECT cooldown_until FROM limiter_state')).rows[0]).toEqual({ cooldown_until: '4102444800000' });

    await expect(pool.query("INSERT INTO limiter_state (id, updated_at) VALUES (2, 0)")).rejects.toMatchObject({ code: '23514' });
    await expect(
      pool.query("INSERT INTO requests (admitted_at, bucket_start, method, path, outcome, est_input_tokens, est_output_tokens) VALUES (0, 0, 'POST', '/v1', 'bogus', 1, 1)"),
    ).rejects.toMatchObject({ code: '23514' });
    await expect(pool.query("INSERT INTO processes (role, pid, started_at, heartbeat_at) VALUES ('bystander', 1, 0, 0)")).rejects.toMatchObject({ code: '23514' });
  });

  it('migrate a database once: opening it again changes nothing', async () => {
    const fresh = await freshDatabase();
    const first = openPool(fresh.url);
    expect(await migratePostgres(first, migrations, redactPostgresUrl(fresh.url))).toBe(2);
    await first.query('UPDATE limiter_state SET consecutive_429s = 3, updated_at = 17 WHERE id = 1');

    const again = openPool(fresh.url);
    expect(await migratePostgres(again, migrations, redactPostgresUrl(fresh.url))).toBe(2);
    const versions = await again.query<{ version: number; name: string }>('SELECT version, name FROM ratewarden_schema_version ORDER BY version');
    expect(versions.rows).toEqual([
      { version: 1, name: 'init' },
      { version: 2, name: 'rate_limit_events_by_request' },
    ]);
    expect((await again.query('SELECT consecutive_429s, updated_at FROM limiter_state')).rows).toEqual([
      { consecutive_429s: 3, updated_at: '17' },
    ]);
  });

  it('apply each migration once when several proxies start together', async () => {
    const fresh = await freshDatabase();
    const starters = [openPool(fresh.url), openPool(fresh.url), openPool(fresh.url)];
    const versions = await Promise.all(starters.map((pool) => migratePostgres(pool, migrations, redactPostgresUrl(fresh.url))));
    expect(versions).toEqual([2, 2, 2]);
    const applied = await starters[0]!.query('SELECT count(*)::int AS n FROM ratewarden_schema_version');
    expect(applied.rows[0]).toEqual({ n: 2 });
  });

  it('bring a database at version 1 up to version 2', async () => {
    const fresh = await freshDatabase();
    const pool = openPool(fresh.url);
    expect(await migratePostgres(pool, migrations.slice(0, 1), redactPostgresUrl(fresh.url))).toBe(1);
    expect(await migratePostgres(pool, migrations, redactPostgresUrl(fresh.url))).toBe(2);
    const index = await pool.query("SELECT 1 FROM pg_indexes WHERE indexname = 'rate_limit_events_by_request'");
    expect(index.rowCount).toBe(1);
  });

  it('refuse a newer schema with one line that names it, leaving the database untouched', async () => {
    const fresh = await freshDatabase();
    const pool = openPool(fresh.url);
    await migratePostgres(pool, migrations, redactPostgresUrl(fresh.url));
    await pool.query("INSERT INTO ratewarden_schema_version (version, name, applied_at) VALUES (9, 'from_the_future', 0)");

    const shown = redactPostgresUrl(fresh.url);
    const refused = await migratePostgres(pool, migrations, shown).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StoreError);
    expect((refused as StoreError).problem).toBe('too-new');
    const message = (refused as StoreError).message;
    expect(message).toBe(
      `database ${shown} has schema version 9, newer than this ratewarden understands (2); upgrade ratewarden, or point --db at another database`,
    );
    expect(message).not.toContain(new URL(fresh.url).password);
    expect(await readSchemaVersion(pool)).toBe(9);
    expect((await pool.query('SELECT count(*)::int AS n FROM ratewarden_schema_version')).rows[0]).toEqual({ n: 3 });
  });

  it('roll a failing migration back whole: no half-applied schema, no version recorded', async () => {
    const fresh = await freshDatabase();
    const pool = openPool(fresh.url);
    const broken = [
      ...migrations,
      { version: 3, name: 'broken', sql: 'CREATE TABLE half_done (id INTEGER); SELECT no_such_function();' },
    ];
    await expect(migratePostgres(pool, broken, redactPostgresUrl(fresh.url))).rejects.toMatchObject({ code: '42883' });
    expect(await readSchemaVersion(pool)).toBe(2);
    expect((await pool.query("SELECT to_regclass('half_done') AS t")).rows[0]).toEqual({ t: null });
  });
});
