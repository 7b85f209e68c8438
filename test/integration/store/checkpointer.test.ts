import { copyFileSync, existsSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/store/sqlite/open.js';
import { startCheckpointer, type CheckpointReport, type Checkpointer } from '../../../src/store/sqlite/checkpointer.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';

const scratch = new ScratchDirs();
const opened: Database[] = [];
const started: Checkpointer[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((checkpointer) => checkpointer.stop()));
  for (const db of opened.splice(0)) db.close();
  scratch.removeAll();
});

const restartAboveBytes = 64 * 1024;

/** A ratewarden database whose only checkpoints are the checkpointer's, with a table to write to. */
function writerOn(path: string): Database {
  const db = openDatabase(path);
  opened.push(db);
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE written (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)');
  return db;
}

function writeRows(db: Database, count: number): void {
  const insert = db.prepare('INSERT INTO written (payload) VALUES (?)');
  for (let index = 0; index < count; index++) insert.run(Buffer.alloc(1024, index % 251));
}

/** The reports as they arrive; `next` resolves with the first one after the call that matches. */
function reportStream(): {
  onCheckpoint: (report: CheckpointReport) => void;
  next: (matches?: (report: CheckpointReport) => boolean) => Promise<CheckpointReport>;
} {
  let waiting: { matches: (report: CheckpointReport) => boolean; resolve: (report: CheckpointReport) => void } | null = null;
  return {
    onCheckpoint: (report) => {
      if (waiting === null || !waiting.matches(report)) return;
      const { resolve } = waiting;
      waiting = null;
      resolve(report);
    },
    next: (matches = () => true) => new Promise((resolve) => (waiting = { matches, resolve })),
  };
}

/** Open file descriptors of this process on `path` (Linux): each connection holds one. */
function descriptorsOn(path: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  }).length;
}

function rowCount(path: string): number {
  const db = openDatabase(path, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM written').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('the checkpointer thread (issue 15: checkpoints off the request path)', () => {
  it('copies the WAL into the database file and has it start over, from its own connection, while another one writes', async () => {
    const path = join(scratch.make(), 'ratewarden.db');
    const writer = writerOn(path);
    writeRows(writer, 300);
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(restartAboveBytes);

    const reports = reportStream();
    started.push(await startCheckpointer(path, { intervalMs: 10, restartAboveBytes, onCheckpoint: reports.onCheckpoint }));
    let written = 300;
    let restarted: CheckpointReport | null = null;
    // Writes go on between rounds; a round restarts the WAL when it finds no writer in the way.
    for (let round = 0; round < 1_000 && restarted === null; round++) {
      writeRows(writer, 1);
      written += 1;
      const report = await reports.next();
      if (report.restarted) restarted = report;
    }

    expect(restarted).not.toBeNull();
    expect(restarted?.walFrames).toBeGreaterThan(300);
    // The database file alone, without its WAL, holds every committed row.
    const copy = join(scratch.make(), 'copy.db');
    copyFileSync(path, copy);
    expect(existsSync(`${copy}-wal`)).toBe(false);
    expect(rowCount(copy)).toBe(written);
    // The next write starts the WAL over: it holds that write's frames only.
    writeRows(writer, 1);
    const { log } = (writer.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0] as { log: number };
    expect(log).toBeLessThan(10);
  });

  it('never waits for a writer: while a write transaction is open it reports busy instead of restarting the WAL', async () => {
    const path = join(scratch.make(), 'ratewarden.db');
    const writer = writerOn(path);
    writeRows(writer, 300);
    writer.exec('BEGIN IMMEDIATE');
    writeRows(writer, 1);
    const reports = reportStream();
    const firstRound = reports.next();
    started.push(await startCheckpointer(path, { intervalMs: 10, restartAboveBytes, onCheckpoint: reports.onCheckpoint }));

    // Rounds keep arriving while this connection holds the write lock: none of them waited for it.
    const whileLocked = [await firstRound, await reports.next(), await reports.next()];
    expect(whileLocked[0]?.checkpointedFrames).toBeGreaterThan(0);
    expect(whileLocked.every((report) => !report.restarted)).toBe(true);
    expect(whileLocked.some((report) => report.busy)).toBe(true);
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(restartAboveBytes);
    writer.exec('COMMIT');

    await reports.next((report) => report.restarted);
    expect(rowCount(path)).toBe(301);
  });

  it('stop ends the thread and closes its connection; stopping twice is harmless', async () => {
    const path = join(scratch.make(), 'ratewarden.db');
    // Closed first: SQLite keeps a closed connection's descriptor open while another of the same process holds a lock.
    openDatabase(path).close();
    expect(descriptorsOn(path)).toBe(0);
    const reports = reportStream();
    const firstRound = reports.next();
    const checkpointer = await startCheckpointer(path, { intervalMs: 10, onCheckpoint: reports.onCheckpoint });
    await firstRound;
    expect(descriptorsOn(path)).toBe(1);

    await checkpointer.stop();
    await checkpointer.stop();
    expect(descriptorsOn(path)).toBe(0);
  });

  it('refuses a database that does not exist, in one line naming it, and creates nothing', async () => {
    const path = join(scratch.make(), 'missing.db');
    const error = await startCheckpointer(path).then(
      () => null,
      (refusal: Error) => refusal,
    );
    expect(error?.message).toContain(path);
    expect(error?.message).not.toContain('\n');
    expect(existsSync(path)).toBe(false);
  });
});
