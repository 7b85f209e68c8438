import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { Database } from 'better-sqlite3';
import { StoreError } from '../errors.js';

/**
 * Which database a path should name. The database keeps a random id (`store_identity`, made by
 * migration 004); a marker file beside it keeps the same id. A start that finds the marker but
 * no database, or a database with another id, knows that the database that lived there is gone
 * or was replaced, and refuses instead of starting from nothing.
 */
export const markerPathFor = (dbPath: string): string => `${dbPath}.identity`;

/** SQLite's own files beside the database: left over, they show that a database lived there. */
export const sqliteCompanionsOf = (dbPath: string): string[] => [`${dbPath}-wal`, `${dbPath}-shm`, `${dbPath}-journal`];

export function existingCompanions(dbPath: string): string[] {
  return sqliteCompanionsOf(dbPath).filter((path) => existsSync(path));
}

/** The id the marker names, or null when there is no marker. */
export function readMarker(dbPath: string): string | null {
  const path = markerPathFor(dbPath);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StoreError(
      'unreadable',
      `the identity marker ${path} of database ${dbPath} cannot be read (${(error as Error).message}); fix its permissions`,
    );
  }
  const id = parsedId(text);
  if (typeof id !== 'string' || !/^[0-9a-f]{32}$/.test(id)) {
    throw new StoreError(
      'unreadable',
      `the identity marker ${path} of database ${dbPath} is not one ratewarden wrote; restore it, or run "ratewarden new-db --db ${dbPath}" to adopt the database there`,
    );
  }
  return id;
}

function parsedId(text: string): unknown {
  try {
    return (JSON.parse(text) as { databaseId?: unknown } | null)?.databaseId;
  } catch {
    return undefined;
  }
}

/** Written whole or not at all (a temporary file renamed over the marker). */
export function writeMarker(dbPath: string, databaseId: string): void {
  const path = markerPathFor(dbPath);
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(temporary, 'w', 0o600);
    try {
      writeSync(
        fd,
        `${JSON.stringify({ databaseId, database: dbPath, note: 'written by ratewarden: the id of the database at this path; do not edit' })}\n`,
      );
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    throw new StoreError(
      'write-failed',
      `the identity marker ${path} of database ${dbPath} cannot be written (${(error as Error).message}); make its folder writable`,
    );
  }
}

/** The database's own id; null for a file that has none (empty, or older than schema 4). */
export function readDatabaseId(db: Database): string | null {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'store_identity'").get();
  if (table === undefined) return null;
  const row = db.prepare('SELECT database_id FROM store_identity WHERE id = 1').get() as { database_id: string } | undefined;
  return row?.database_id ?? null;
}
