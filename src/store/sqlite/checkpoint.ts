import type { Database } from 'better-sqlite3';

/**
 * A checkpoint copies committed pages from the WAL back into the database file. With
 * synchronous=NORMAL it syncs both files, which costs milliseconds, and SQLite's automatic
 * checkpoint (every 1000 pages) makes whichever commit crosses the line pay for it: one
 * admit or settle in a few hundred. The warden checkpoints from its periodic tick instead; the
 * automatic checkpoint stays as a backstop, at a threshold that a process ticking every second
 * reaches only above a few thousand requests a second.
 */
const backstopPages = 10_000;

export function deferCheckpoints(db: Database): void {
  db.pragma(`wal_autocheckpoint = ${backstopPages}`);
}

/** Copies what it can without waiting for other connections; cheap when the WAL holds nothing new. */
export function checkpointPassive(db: Database): void {
  db.pragma('wal_checkpoint(PASSIVE)');
}
