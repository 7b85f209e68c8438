import { accessSync, chmodSync, constants, mkdirSync, openSync, closeSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { StoreError } from '../errors.js';
import { existingCompanions, markerPathFor, readDatabaseId, readMarker, writeMarker } from './identity.js';
import { latestSchemaVersion } from '../migrations.js';
import { applyMigrations, loadSqliteMigrations } from './migrations.js';

export type Durability = 'normal' | 'full';

export interface OpenOptions {
  durability?: Durability;
  /** Read-only views (status, calibrate without --prune-zero): never create, migrate or write. */
  readonly?: boolean;
  /** How long a writer waits for another process's lock before giving up. */
  busyTimeoutMs?: number;
  /** Operator commands that write (reset-cooldown, calibrate --prune-zero): refuse a missing file, never create one. */
  mustExist?: boolean;
  /**
   * `ratewarden new-db`: the operator starts anew on purpose, so a database that is gone or was
   * replaced is not refused; the file at the path (or a new one) becomes this path's database.
   */
  startNew?: boolean;
}

/** The first schema whose databases carry an id (migration 004). */
const identitySchemaVersion = 4;

export const defaultBusyTimeoutMs = 2_000;
const journalSizeLimitBytes = 64 * 1_048_576;

/**
 * Opens the database, creating it (folder 0700, file 0600) unless read-only. Pragmas are set and
 * read back on every connection; the schema is checked and migrated. Any problem is a StoreError
 * and leaves the file untouched: a bad database is never replaced by a fresh one.
 */
export function openDatabase(path: string, options: OpenOptions = {}): Database {
  const { durability = 'normal', readonly = false, busyTimeoutMs = defaultBusyTimeoutMs, mustExist = false, startNew = false } = options;
  const exists = fileExists(path);
  if (!exists && !startNew) refuseIfOneLivedHere(path, readMarker(path));
  if (!exists && (readonly || mustExist)) {
    throw new StoreError(
      'missing',
      `database ${path} does not exist; start the proxy with "ratewarden run" to create it, or pass --db / RATEWARDEN_DB`,
    );
  }
  const marker = readonly || startNew ? null : readMarker(path);
  if (exists) checkPermissions(path, readonly);
  else createEmptyFile(path);

  let db: Database;
  try {
    db =
      readonly && onReadOnlyMedia(path)
        ? openOnReadOnlyMedia(path)
        : new BetterSqlite3(path, { readonly, fileMustExist: true, timeout: busyTimeoutMs });
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw new StoreError('unreadable', `database ${path} cannot be opened (${describe(error)}); check the path and its permissions`);
  }
  try {
    configure(db, path, { durability, readonly, busyTimeoutMs, marker, startNew });
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

const startAnew = (path: string): string => `run "ratewarden new-db --db ${path}" to start a new one on purpose`;

/**
 * A missing database where the marker or SQLite's own leftovers show that one lived. Both are
 * made only after the database file, so a file that is there by the time they are seen was
 * just created by another process starting on the same fresh path (two proxies at once): that
 * is a first start, not a database gone.
 */
function refuseIfOneLivedHere(path: string, marker: string | null): void {
  if ((marker !== null || existingCompanions(path).length > 0) && fileExists(path)) return;
  if (marker !== null) {
    throw new StoreError(
      'gone',
      `database ${path} is gone, but ${markerPathFor(path)} shows that database ${marker} lived there; ratewarden does not start from nothing where a database existed: restore the file, or ${startAnew(path)}`,
    );
  }
  const leftovers = existingCompanions(path);
  if (leftovers.length > 0) {
    throw new StoreError(
      'gone',
      `database ${path} is gone, but its ${leftovers.join(', ')} are still there; ratewarden does not start from nothing where a database existed: restore the file, or ${startAnew(path)}`,
    );
  }
}

/** Before anything is written: the file at the path must be the database the marker names. */
function refuseIfReplaced(db: Database, path: string, version: number, marker: string | null): void {
  if (marker === null) return;
  const id = version >= identitySchemaVersion ? readDatabaseId(db) : null;
  if (id === marker) return;
  const found = id === null ? (version === 0 ? 'an empty file' : 'a database without an id') : `database ${id}`;
  throw new StoreError(
    'replaced',
    `database ${path} is not the one that lived there: it is ${found}, but ${markerPathFor(path)} names database ${marker}; restore the original, or run "ratewarden new-db --db ${path}" to adopt this file on purpose`,
  );
}

function onReadOnlyMedia(path: string): boolean {
  try {
    accessSync(dirname(path), constants.W_OK);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EROFS';
  }
}

/*
 * SQLite cannot open a WAL database read-only on read-only media unless its -shm file is
 * already there (the URI `immutable` flag would do it, but better-sqlite3 is built without
 * URIs). After a clean stop every page is in the main file, so a copy in memory, marked as a
 * rollback-journal database, reads exactly what is on disk. With a -wal left over the pages in
 * it would be missed, so that case is refused instead.
 */
function openOnReadOnlyMedia(path: string): Database {
  // With its -shm there (a proxy running or killed), SQLite reads the file and its WAL in place.
  if (fileExists(`${path}-shm`)) return new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  const wal = `${path}-wal`;
  if (fileExists(wal) && statSync(wal).size > 0) {
    throw new StoreError(
      'read-only',
      `database ${path} is on a read-only file system with a ${wal} but no -shm file, so its last writes cannot be read; mount it read-write once and stop the proxy cleanly`,
    );
  }
  const bytes = readFileSync(path);
  const walMode = 2;
  if (bytes.length >= 20 && bytes[18] === walMode && bytes[19] === walMode) {
    bytes[18] = 1;
    bytes[19] = 1;
  }
  return new BetterSqlite3(bytes, { readonly: true });
}

interface ConfigureOptions {
  durability: Durability;
  readonly: boolean;
  busyTimeoutMs: number;
  marker: string | null;
  startNew: boolean;
}

function configure(db: Database, path: string, options: ConfigureOptions): void {
  db.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
  const migrations = loadSqliteMigrations();
  const latest = latestSchemaVersion(migrations);
  // Read before anything can write: a foreign or newer file is refused untouched.
  const version = readVersion(db, path);
  if (version > latest) {
    throw new StoreError(
      'too-new',
      `database ${path} has schema version ${version}, newer than this ratewarden understands (${latest}); upgrade ratewarden, or point --db at another file`,
    );
  }
  checkIntegrity(db, path);
  if (!options.readonly) refuseIfReplaced(db, path, version, options.marker);
  if (options.readonly) {
    if (version < latest) {
      throw new StoreError(
        'too-old',
        `database ${path} has schema version ${version}, older than this ratewarden (${latest}); run "ratewarden run" once to upgrade it`,
      );
    }
    db.pragma('query_only = ON');
    return;
  }
  setAndVerify(db, path, 'journal_mode = WAL', 'journal_mode', 'wal');
  setAndVerify(
    db,
    path,
    `synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`,
    'synchronous',
    options.durability === 'full' ? 2 : 1,
  );
  setAndVerify(db, path, 'foreign_keys = ON', 'foreign_keys', 1);
  setAndVerify(db, path, `journal_size_limit = ${journalSizeLimitBytes}`, 'journal_size_limit', journalSizeLimitBytes);
  setAndVerify(db, path, `busy_timeout = ${options.busyTimeoutMs}`, 'busy_timeout', options.busyTimeoutMs);
  try {
    applyMigrations(db, migrations);
  } catch (error) {
    throw new StoreError(
      'write-failed',
      `database ${path} could not be migrated to version ${latest} (${describe(error)}); nothing was changed, check the disk and the file's permissions`,
    );
  }
  const id = readDatabaseId(db);
  if (id !== null && (options.startNew || options.marker !== id)) writeMarker(path, id);
}

function readVersion(db: Database, path: string): number {
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } catch (error) {
    throw classify(error, path);
  }
}

function checkIntegrity(db: Database, path: string): void {
  let result: unknown;
  try {
    result = db.pragma('quick_check', { simple: true });
  } catch (error) {
    throw classify(error, path);
  }
  if (result !== 'ok') {
    throw new StoreError(
      'corrupt',
      `database ${path} is corrupt (integrity check: ${firstProblem(String(result))}); it was left untouched: stop every process using it, move it aside for inspection and restore a backup, or run "ratewarden new-db --db ${path}" once it is moved`,
    );
  }
}

/** quick_check reports every problem in one multi-line text; the first one, and how many more, is enough. */
function firstProblem(report: string): string {
  const problems = report
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('*** in database'));
  const [first = report.trim()] = problems;
  return problems.length > 1 ? `${first}, and ${problems.length - 1} more problems` : first;
}

function setAndVerify(db: Database, path: string, assignment: string, name: string, expected: string | number): void {
  let actual: unknown;
  try {
    db.pragma(assignment);
    actual = db.pragma(name, { simple: true });
  } catch (error) {
    throw classify(error, path);
  }
  if (actual !== expected) {
    throw new StoreError(
      'pragma',
      `database ${path}: PRAGMA ${name} is ${String(actual)}, expected ${String(expected)}; the file system may not support it (WAL needs a local disk)`,
    );
  }
}

function classify(error: unknown, path: string): StoreError {
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_NOTADB') {
    return new StoreError(
      'not-a-database',
      `database ${path} is not a SQLite database; it was left untouched: point --db at the right file, or move this one aside`,
    );
  }
  if (code === 'SQLITE_CORRUPT') {
    return new StoreError(
      'corrupt',
      `database ${path} is corrupt (${describe(error)}); it was left untouched: move it aside and keep it for inspection, or restore a backup`,
    );
  }
  if (code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN') {
    return new StoreError(
      'read-only',
      `database ${path} cannot be written (${describe(error)}); make the file and its folder writable by this user`,
    );
  }
  if (code === 'SQLITE_BUSY') {
    return new StoreError(
      'busy',
      `database ${path} is locked by another process (${describe(error)}); try again, or stop the process holding it`,
    );
  }
  return new StoreError('unreadable', `database ${path} cannot be read (${describe(error)}); check the file`);
}

function fileExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new StoreError('unreadable', `database ${path} cannot be inspected (${describe(error)}); check the path`);
  }
}

function checkPermissions(path: string, readonly: boolean): void {
  const stat = statSync(path);
  if (!stat.isFile()) {
    throw new StoreError('unreadable', `database ${path} is not a regular file; point --db at a file`);
  }
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw new StoreError('unreadable', `database ${path} is not readable by this user; fix its permissions`);
  }
  // root passes access(W_OK) whatever the mode says; a file marked read-only was marked so on purpose.
  if (!readonly && (stat.mode & 0o222) === 0) {
    throw new StoreError(
      'read-only',
      `database ${path} is read-only; make it writable (chmod u+w) or use a read-only command such as "ratewarden status"`,
    );
  }
  if (!readonly) {
    try {
      accessSync(path, constants.W_OK);
      accessSync(dirname(path), constants.W_OK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EROFS') {
        throw new StoreError(
          'read-only',
          `database ${path} is on a read-only file system; remount it read-write or point --db at a writable place (read-only commands such as "ratewarden status" still work)`,
        );
      }
      throw new StoreError('read-only', `database ${path} or its folder is not writable by this user; fix their permissions`);
    }
  }
}

function createEmptyFile(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    closeSync(openSync(path, 'wx', 0o600));
    chmodSync(path, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    if ((error as NodeJS.ErrnoException).code === 'EROFS') {
      throw new StoreError(
        'read-only',
        `database ${path} cannot be created: its folder is on a read-only file system; remount it read-write or point --db at a writable place`,
      );
    }
    throw new StoreError(
      'write-failed',
      `database ${path} cannot be created (${describe(error)}); check that its folder is writable, or pass --db`,
    );
  }
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}
