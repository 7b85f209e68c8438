import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { defaultDatabasePath } from '../../../src/config/paths.js';
import { latestSchemaVersion } from '../../../src/store/migrations.js';
import { applyMigrations, loadSqliteMigrations } from '../../../src/store/sqlite/migrations.js';
import { openDatabase } from '../../../src/store/sqlite/open.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';

type Database = ReturnType<typeof openDatabase>;

const scratch = new ScratchDirs();
const open: Database[] = [];

function track(db: Database): Database {
  open.push(db);
  return db;
}

afterEach(() => {
  for (const db of open.splice(0)) if (db.open) db.close();
  scratch.removeAll();
});

const pragma = (db: Database, name: string): unknown => db.pragma(name, { simple: true });

describe('connection pragmas', () => {
  it('sets and reads back WAL, synchronous NORMAL, foreign keys, busy_timeout and journal_size_limit', () => {
    const db = track(openDatabase(join(scratch.make(), 'ratewarden.db')));
    expect(pragma(db, 'journal_mode')).toBe('wal');
    expect(pragma(db, 'synchronous')).toBe(1);
    expect(pragma(db, 'foreign_keys')).toBe(1);
    expect(pragma(db, 'busy_timeout')).toBe(2_000);
    expect(pragma(db, 'journal_size_limit')).toBe(64 * 1_048_576);
  });

  it('uses synchronous FULL for durability full, and the busy timeout asked for', () => {
    const db = track(openDatabase(join(scratch.make(), 'ratewarden.db'), { durability: 'full', busyTimeoutMs: 250 }));
    expect(pragma(db, 'synchronous')).toBe(2);
    expect(pragma(db, 'busy_timeout')).toBe(250);
  });

  it('sets them again on every connection, not only the one that created the file', () => {
    const path = join(scratch.make(), 'ratewarden.db');
    track(openDatabase(path)).close();
    const second = track(openDatabase(path, { durability: 'full' }));
    const third = track(openDatabase(path));
    expect(pragma(second, 'synchronous')).toBe(2);
    expect(pragma(third, 'synchronous')).toBe(1);
    expect(pragma(third, 'foreign_keys')).toBe(1);
    expect(pragma(third, 'journal_mode')).toBe('wal');
  });

  it('opens read-only views without writing: query_only, schema checked', () => {
    const path = join(scratch.make(), 'ratewarden.db');
    track(openDatabase(path)).close();
    const view = track(openDatabase(path, { readonly: true }));
    expect(pragma(view, 'query_only')).toBe(1);
    expect(() => view.exec('DELETE FROM audit_log')).toThrow();
  });
});

describe('migrations', () => {
  it('bring a new database to the latest schema version with every documented table', () => {
    const db = track(openDatabase(join(scratch.make(), 'ratewarden.db')));
    const latest = latestSchemaVersion(loadSqliteMigrations());
    expect(latest).toBeGreaterThanOrEqual(1);
    expect(pragma(db, 'user_version')).toBe(latest);
    const tables = db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((row) => row.name);
    for (const table of [
      'audit_log',
      'budget_adjustments',
      'calibration_samples',
      'limiter_state',
      'processes',
      'rate_limit_events',
      'requests',
      'supervisor_events',
      'usage_buckets',
    ]) {
      expect(tables).toContain(table);
    }
    const tokens = db
      .prepare<[], { name: string; type: string; notnull: number }>(
        'SELECT name, type, "notnull" FROM pragma_table_info(\'calibration_samples\')',
      )
      .all();
    expect(tokens).toContainEqual({ name: 'tokens', type: 'INTEGER', notnull: 1 });
    expect(db.prepare('SELECT COUNT(*) AS n FROM limiter_state').get()).toEqual({ n: 1 });
  });

  it('index every foreign key, so that deleting a request never scans the tables that point at it', () => {
    const db = track(openDatabase(join(scratch.make(), 'ratewarden.db')));
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all();
    const foreignKeys = tables.flatMap(({ name }) =>
      db
        .prepare<[string], { from: string }>('SELECT "from" FROM pragma_foreign_key_list(?)')
        .all(name)
        .map((key) => ({ table: name, column: key.from })),
    );
    expect(foreignKeys).toContainEqual({ table: 'rate_limit_events', column: 'request_id' });
    for (const { table, column } of foreignKeys) {
      const leading = db
        .prepare<[string], { name: string }>(
          'SELECT ii.name FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii WHERE ii.seqno = 0',
        )
        .all(table)
        .map((row) => row.name);
      expect(leading, `an index on ${table}.${column}`).toContain(column);
    }
  });

  it('are not applied twice: reopening keeps the data', () => {
    const path = join(scratch.make(), 'ratewarden.db');
    const first = track(openDatabase(path));
    first.prepare("INSERT INTO audit_log (at, action, actor, detail) VALUES (1, 'test', 'me', '{}')").run();
    first.close();
    const second = track(openDatabase(path));
    expect(second.prepare('SELECT COUNT(*) AS n FROM audit_log').get()).toEqual({ n: 1 });
    expect(second.prepare('SELECT COUNT(*) AS n FROM limiter_state').get()).toEqual({ n: 1 });
  });

  it('apply each file in order inside its own transaction: a failing one changes nothing', () => {
    const dir = scratch.make();
    const migrationsDir = join(dir, 'migrations');
    mkdirSync(migrationsDir);
    const shipped = loadSqliteMigrations();
    for (const migration of shipped)
      writeFileSync(join(migrationsDir, `${String(migration.version).padStart(3, '0')}_${migration.name}.sql`), migration.sql);
    const latest = latestSchemaVersion(shipped);
    const file = (version: number, name: string): string => join(migrationsDir, `${String(version).padStart(3, '0')}_${name}.sql`);
    writeFileSync(file(latest + 1, 'more'), 'CREATE TABLE extra (id INTEGER PRIMARY KEY);');
    writeFileSync(file(latest + 2, 'broken'), 'CREATE TABLE half_done (id INTEGER PRIMARY KEY); INSERT INTO no_such_table VALUES (1);');
    writeFileSync(join(migrationsDir, 'notes.txt'), 'not a migration');
    const db = track(openDatabase(join(dir, 'ratewarden.db')));
    const migrations = loadSqliteMigrations(migrationsDir);
    expect(migrations.map((migration) => migration.version)).toEqual([
      ...shipped.map((migration) => migration.version),
      latest + 1,
      latest + 2,
    ]);
    expect(() => applyMigrations(db, migrations)).toThrow(/no_such_table/);
    expect(pragma(db, 'user_version')).toBe(latest + 1);
    const names = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE name IN ('extra', 'half_done')").all();
    expect(names).toEqual([{ name: 'extra' }]);
  });
});

describe('file and folder', () => {
  it('creates missing parent folders 0700 and the file 0600', () => {
    const root = scratch.make();
    const path = join(root, 'state', 'ratewarden', 'ratewarden.db');
    track(openDatabase(path));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'state', 'ratewarden')).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, 'state')).mode & 0o777).toBe(0o700);
  });

  it('resolves the default path under $XDG_STATE_HOME, else ~/.local/state', () => {
    expect(defaultDatabasePath({ XDG_STATE_HOME: '/srv/state' })).toBe('/srv/state/ratewarden/ratewarden.db');
    expect(defaultDatabasePath({})).toBe(join(homedir(), '.local', 'state', 'ratewarden', 'ratewarden.db'));
    expect(defaultDatabasePath({ XDG_STATE_HOME: '  ' })).toBe(join(homedir(), '.local', 'state', 'ratewarden', 'ratewarden.db'));
  });

  it('takes --db over RATEWARDEN_DB over the default, and opens the default where it points', () => {
    const root = scratch.make();
    const env = { XDG_STATE_HOME: join(root, 'state'), XDG_CONFIG_HOME: join(root, 'config') };
    const byDefault = loadConfig({ flags: {}, env }).settings.db as string;
    expect(byDefault).toBe(join(root, 'state', 'ratewarden', 'ratewarden.db'));
    expect(loadConfig({ flags: {}, env: { ...env, RATEWARDEN_DB: '/tmp/from-env.db' } }).settings.db).toBe('/tmp/from-env.db');
    expect(loadConfig({ flags: { db: '/tmp/from-flag.db' }, env: { ...env, RATEWARDEN_DB: '/tmp/from-env.db' } }).settings.db).toBe(
      '/tmp/from-flag.db',
    );

    track(openDatabase(byDefault));
    expect(existsSync(byDefault)).toBe(true);
    expect(statSync(join(root, 'state', 'ratewarden')).mode & 0o777).toBe(0o700);
  });
});
