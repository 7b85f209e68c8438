import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { StoreError } from '../errors.js';
import { latestSchemaVersion, loadMigrations, type Migration } from '../migrations.js';
import { readServerClockMs } from './clock.js';
import { inTransaction } from './transaction.js';

// Both src/store/postgres (tests) and dist/store/postgres (the built CLI) sit three levels below
// the package root.
const migrationsDir = fileURLToPath(new URL('../../../migrations/postgres/', import.meta.url));

/** migrations/postgres/NNN_name.sql, in order. NNN is the same schema version as on SQLite. */
export const loadPostgresMigrations = (dir: string = migrationsDir): Migration[] => loadMigrations(dir);

/**
 * Any number will do as long as nothing else in the database takes the same advisory lock;
 * advisory locks are per database, so proxies on other databases never wait for it.
 */
const migrationLockKey = 0x7261_7465_7764; // "ratewd"

/** Creates the version table when the first migration is applied, never before. */
const createVersionTable = `
  CREATE TABLE ratewarden_schema_version (
    version    INTEGER PRIMARY KEY CHECK (version > 0),
    name       TEXT NOT NULL,
    applied_at BIGINT NOT NULL
  )`;

/**
 * Applies every migration newer than the database, each in its own transaction that also
 * records its version in ratewarden_schema_version. Each transaction first takes an advisory
 * lock and reads the version again under it, so proxies starting together apply each
 * migration once. A database whose version is newer than `migrations` know is refused with a
 * StoreError ('too-new') and nothing written. Returns the schema version now in force.
 *
 * `shownAs` names the database in messages: pass redactPostgresUrl's output, never the URL.
 */
export async function migratePostgres(pool: pg.Pool, migrations: readonly Migration[], shownAs: string): Promise<number> {
  const latest = latestSchemaVersion(migrations);
  const client = await pool.connect();
  try {
    for (;;) {
      const step = await inTransaction(client, 'READ COMMITTED', async () => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [migrationLockKey]);
        const current = await readSchemaVersion(client);
        if (current !== undefined && current > latest) {
          throw new StoreError(
            'too-new',
            `database ${shownAs} has schema version ${current}, newer than this ratewarden understands (${latest}); upgrade ratewarden, or point --db at another database`,
          );
        }
        const next = migrations.find((migration) => migration.version > (current ?? 0));
        if (!next) return { version: current ?? 0, applied: false };
        if (current === undefined) await client.query(createVersionTable);
        await client.query(next.sql);
        await client.query('INSERT INTO ratewarden_schema_version (version, name, applied_at) VALUES ($1, $2, $3)', [
          next.version,
          next.name,
          await readServerClockMs(client),
        ]);
        return { version: next.version, applied: true };
      });
      if (!step.applied) {
        client.release();
        return step.version;
      }
    }
  } catch (error) {
    // A connection that failed mid-transaction is destroyed, not handed back to the pool.
    client.release(error instanceof Error ? error : true);
    throw error;
  }
}

/** The last migration applied; undefined for a database ratewarden has never migrated. */
export async function readSchemaVersion(client: Pick<pg.ClientBase, 'query'>): Promise<number | undefined> {
  const table = await client.query<{ present: boolean }>("SELECT to_regclass('ratewarden_schema_version') IS NOT NULL AS present");
  if (!table.rows[0]?.present) return undefined;
  const result = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM ratewarden_schema_version');
  return result.rows[0]?.version ?? 0;
}
