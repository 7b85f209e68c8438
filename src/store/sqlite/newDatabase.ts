import { existsSync, renameSync } from 'node:fs';
import { StoreError } from '../errors.js';
import { heldFilePathFor, heldFilesOf } from '../held429File.js';
import { existingCompanions, readDatabaseId, readMarker } from './identity.js';
import { openDatabase } from './open.js';

export type NewDatabaseOutcome =
  | { kind: 'created'; databaseId: string; movedAside: string[] }
  | { kind: 'adopted'; databaseId: string; previous: string | null }
  | { kind: 'unchanged'; databaseId: string };

/**
 * `ratewarden new-db`: the operator's explicit decision to start anew where a database was
 * deleted or replaced. With no file at the path a new database is created, after SQLite files
 * left over from the old one are moved aside (SQLite would otherwise replay an old -wal into
 * the new file). A file at the path is adopted as it is, if it is a usable database. Nothing is
 * ever deleted or overwritten.
 */
export function startNewDatabase(path: string, now: Date = new Date()): NewDatabaseOutcome {
  const previous = readMarker(path);
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  if (!existsSync(path)) {
    const movedAside = [...existingCompanions(path), ...heldFilesOf(heldFilePathFor(path))]
      .filter((leftover) => existsSync(leftover))
      .map((leftover) => moveAside(path, leftover, stamp));
    return { kind: 'created', databaseId: open(path), movedAside };
  }
  const databaseId = open(path);
  if (databaseId === previous) return { kind: 'unchanged', databaseId };
  // Upstream 429s held for the previous database name its requests, not this one's.
  for (const held of heldFilesOf(heldFilePathFor(path))) moveAside(path, held, stamp);
  return { kind: 'adopted', databaseId, previous };
}

function moveAside(path: string, leftover: string, stamp: string): string {
  const aside = `${leftover}.orphaned-${stamp}`;
  try {
    renameSync(leftover, aside);
  } catch (error) {
    throw new StoreError(
      'write-failed',
      `${leftover}, left over from the database that lived at ${path}, cannot be moved aside (${(error as Error).message}); move it away by hand`,
    );
  }
  return aside;
}

function open(path: string): string {
  const db = openDatabase(path, { startNew: true });
  try {
    return readDatabaseId(db) as string;
  } finally {
    db.close();
  }
}
