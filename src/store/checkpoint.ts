import type { Database } from 'better-sqlite3';

/**
 * A checkpoint copies committed pages from the WAL back into the database file. With
 * synchronous=NORMAL it syncs both files, which costs milliseconds, and SQLite's automatic
 * checkpoint (every 1000 pages) makes whichever commit crosses the line pay for it: about one
 * admit or settle in two hundred. The warden checkpoints from its periodic tick instead; the
 * automatic checkpoint stays as a backstop, at a threshold a ticking process never reaches.
 */
const backstopPages = 10_000;

export function deferCheckpoints(db: Database): void {
  db.pragma(`wal_autocheckpoint = ${backstopPages}`);
}

/** Copies what it can without waiting for other connections; cheap when the WAL holds nothing new. */
export function checkpointPassive(db: Database): void {
  db.pragma('wal_checkpoint(PASSIVE)');
}
