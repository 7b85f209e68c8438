import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { CheckpointReport, CheckpointThreadData, FromCheckpointThread, ToCheckpointThread } from './checkpointMessages.js';

export type { CheckpointReport } from './checkpointMessages.js';

export interface CheckpointerOptions {
  /** Between two checkpoints (default 1 s). */
  intervalMs?: number;
  /**
   * A WAL holding more than this is restarted (see checkpointThread.ts), which holds the write
   * lock while the frames written since the PASSIVE pass are copied (default 16 MiB); null never
   * restarts it. SQLite trims the file to journal_size_limit whenever the WAL restarts.
   */
  restartAboveBytes?: number | null;
  durability?: 'normal' | 'full';
  onCheckpoint?: (report: CheckpointReport) => void;
  /** A checkpoint that failed; the next round tries again. */
  onError?: (message: string) => void;
}

export interface Checkpointer {
  /** Ends the thread and closes its connection; resolves once the thread has exited. Idempotent. */
  stop(): Promise<void>;
}

export const defaultCheckpointIntervalMs = 1_000;
export const defaultRestartAboveBytes = 16 * 1_048_576;

/*
 * The thread runs the built script: both src/store/sqlite (tests) and dist/store/sqlite (the
 * built CLI) sit three levels below the package root, and a worker thread cannot load .ts.
 */
const threadScript = fileURLToPath(new URL('../../../dist/store/sqlite/checkpointThread.js', import.meta.url));

/**
 * Checkpoints the WAL of the database at `dbPath` from a worker thread with a connection of its
 * own, so that the copy and its fsyncs never run on the caller's event loop: a commit then
 * waits for no checkpoint. The caller keeps SQLite's automatic checkpoint as a backstop
 * (store/checkpoint.ts). Resolves once the thread has opened the file; rejects with a one-line
 * error when it cannot.
 */
export function startCheckpointer(dbPath: string, options: CheckpointerOptions = {}): Promise<Checkpointer> {
  const workerData: CheckpointThreadData = {
    dbPath,
    intervalMs: options.intervalMs ?? defaultCheckpointIntervalMs,
    restartAboveBytes: options.restartAboveBytes === undefined ? defaultRestartAboveBytes : options.restartAboveBytes,
    durability: options.durability ?? 'normal',
  };
  const worker = new Worker(threadScript, { workerData });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  let stopping: Promise<void> | null = null;
  const checkpointer: Checkpointer = {
    stop() {
      stopping ??= (async () => {
        // Held by the thread again until it has closed its connection: an unref'd one would let the process exit first.
        worker.ref();
        worker.postMessage({ kind: 'stop' } satisfies ToCheckpointThread);
        await exited;
      })();
      return stopping;
    },
  };
  return new Promise((resolve, reject) => {
    let ready = false;
    worker.on('message', (message: FromCheckpointThread) => {
      if (message.kind === 'ready') {
        ready = true;
        // A checkpointer left running never keeps the process alive: a checkpoint cut short is safe.
        worker.unref();
        resolve(checkpointer);
      } else if (message.kind === 'checkpointed') options.onCheckpoint?.(message.report);
      else options.onError?.(message.message);
    });
    worker.once('error', (error) => {
      const line = `cannot checkpoint ${dbPath} from a thread (${error.message})`;
      if (ready) options.onError?.(line);
      else reject(new Error(line));
    });
    worker.once('exit', (code) => {
      if (!ready) reject(new Error(`cannot checkpoint ${dbPath} from a thread (it exited with code ${code} before it opened the file)`));
    });
  });
}
