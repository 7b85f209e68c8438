/** What the checkpointer and its thread tell each other (checkpointer.ts, checkpointThread.ts). */

export interface CheckpointThreadData {
  dbPath: string;
  intervalMs: number;
  /** Null: never RESTART. */
  restartAboveBytes: number | null;
  durability: 'normal' | 'full';
}

/** One round of the checkpointer. */
export interface CheckpointReport {
  /** Frames in the WAL when PASSIVE ran (-1 when the database is not in WAL mode). */
  walFrames: number;
  /** Of those, frames now copied into the database file. */
  checkpointedFrames: number;
  /** A reader or writer kept some frames from being copied, or the WAL from being restarted. */
  busy: boolean;
  /** Every frame was copied and no reader uses the WAL: the next writer starts it over. */
  restarted: boolean;
  /** The size of the WAL file after the round. */
  walBytes: number;
  durationMs: number;
}

export type FromCheckpointThread =
  { kind: 'ready' } | { kind: 'checkpointed'; report: CheckpointReport } | { kind: 'failed'; message: string };

export type ToCheckpointThread = { kind: 'stop' };
