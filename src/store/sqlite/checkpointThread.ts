/**
 * The checkpointer's thread (see checkpointer.ts): its own connection to the database file,
 * checkpointing on a timer so that no checkpoint runs on the proxy's event loop.
 */
import { statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import type { CheckpointReport, CheckpointThreadData, FromCheckpointThread, ToCheckpointThread } from './checkpointMessages.js';

const data = workerData as CheckpointThreadData;
const port = parentPort;
if (port === null) throw new Error('checkpointThread.js runs only as a worker thread, started by startCheckpointer');

interface CheckpointRow {
  busy: number;
  log: number;
  checkpointed: number;
}

function walBytes(): number {
  try {
    return statSync(`${data.dbPath}-wal`).size;
  } catch {
    return 0;
  }
}

function checkpoint(db: Database, mode: 'PASSIVE' | 'RESTART'): CheckpointRow {
  return (db.pragma(`wal_checkpoint(${mode})`) as CheckpointRow[])[0] as CheckpointRow;
}

/*
 * PASSIVE copies what it can and never waits for a reader or a writer. But a writer restarts the
 * WAL from its beginning only when it finds every frame copied, which under steady writes a
 * checkpoint running beside them rarely leaves it: the WAL would only grow. Once it holds more
 * than restartAboveBytes, RESTART copies the few frames written during the PASSIVE pass while it
 * holds the write lock, so that the next writer starts the WAL over; with busy_timeout 0 it gives
 * up at once (busy) rather than wait for a writer or a reader, and the next round tries again.
 */
function runOnce(db: Database, frameBytes: number): CheckpointReport {
  const started = performance.now();
  const passive = checkpoint(db, 'PASSIVE');
  let restarted = false;
  let busy = passive.busy !== 0;
  if (data.restartAboveBytes !== null && passive.log * frameBytes > data.restartAboveBytes) {
    restarted = checkpoint(db, 'RESTART').busy === 0;
    busy = !restarted;
  }
  return {
    walFrames: passive.log,
    checkpointedFrames: passive.checkpointed,
    busy,
    restarted,
    walBytes: walBytes(),
    durationMs: performance.now() - started,
  };
}

function send(message: FromCheckpointThread): void {
  port?.postMessage(message);
}

// A failure to open ends the thread with an error event; startCheckpointer rejects with it.
const db = new BetterSqlite3(data.dbPath, { fileMustExist: true, timeout: 0 });
db.pragma(`synchronous = ${data.durability === 'full' ? 'FULL' : 'NORMAL'}`);
if (db.pragma('journal_mode', { simple: true }) !== 'wal') {
  db.close();
  throw new Error('the database is not in WAL mode');
}

// A WAL frame is a page and its 24-byte header.
const frameBytes = (db.pragma('page_size', { simple: true }) as number) + 24;

const timer = setInterval(() => {
  try {
    send({ kind: 'checkpointed', report: runOnce(db, frameBytes) });
  } catch (error) {
    // A disk error now may be gone at the next round; the owner decides what a failure means.
    send({ kind: 'failed', message: `checkpoint of ${data.dbPath} failed (${(error as Error).message})` });
  }
}, data.intervalMs);

port.on('message', (message: ToCheckpointThread) => {
  if (message.kind !== 'stop') return;
  clearInterval(timer);
  db.close();
  port.close();
});

send({ kind: 'ready' });
