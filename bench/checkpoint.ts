/**
 * Checkpoints on the event loop against checkpoints on a thread (issue 15): one connection
 * commits small admission-like transactions (a request row, a window bucket, the limiter state)
 * at a constant rate, open loop, in a real ratewarden database file (WAL, synchronous=NORMAL,
 * the automatic checkpoint deferred as the warden defers it). Two modes, alternated over rounds,
 * each on a fresh file:
 * - main: `PRAGMA wal_checkpoint(PASSIVE)` every --interval on the same event loop, as the
 *   warden's tick does today;
 * - thread: the checkpointer of src/store/sqlite/checkpointer.ts, every --interval on its own
 *   connection in a worker thread.
 * Reported per mode (medians [min–max] over the rounds): the slowest commit counted from when it
 * was due (so a checkpoint that holds the event loop shows in every commit it delays), its p99,
 * the slowest commit itself, the slowest checkpoint, and the largest WAL file seen.
 *
 * Usage: npm run bench:checkpoint [-- --rate 1500 --seconds 10 --rounds 3 --interval 1000 --json]
 *   --interval <ms>          between two checkpoints, in both modes (default 1000, the warden's tick)
 *   --restart-above <bytes>  the thread restarts a WAL holding more than this (default: the checkpointer's, 16 MiB)
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkpointPassive, deferCheckpoints } from '../src/store/sqlite/checkpoint.js';
import { openDatabase } from '../src/store/sqlite/open.js';
import { startCheckpointer } from '../src/store/sqlite/checkpointer.js';

type Mode = 'main' | 'thread';

interface Outcome {
  commits: number;
  lateP99Ms: number;
  lateMaxMs: number;
  commitMaxMs: number;
  checkpointMaxMs: number;
  walMaxBytes: number;
}

function prepare(db: ReturnType<typeof openDatabase>): () => void {
  deferCheckpoints(db);
  db.exec(`
    CREATE TABLE bench_state (scope TEXT PRIMARY KEY, tokens INTEGER NOT NULL, requests INTEGER NOT NULL, updated_at INTEGER NOT NULL);
    CREATE TABLE bench_requests (id INTEGER PRIMARY KEY, scope TEXT NOT NULL, at INTEGER NOT NULL, reserved INTEGER NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL);
    CREATE INDEX bench_requests_at ON bench_requests (scope, at);
    CREATE TABLE bench_buckets (scope TEXT NOT NULL, start INTEGER NOT NULL, tokens INTEGER NOT NULL, requests INTEGER NOT NULL, PRIMARY KEY (scope, start));
    INSERT INTO bench_state VALUES ('default', 0, 0, 0);
  `);
  const insert = db.prepare(
    "INSERT INTO bench_requests (scope, at, reserved, method, path) VALUES ('default', ?, 4112, 'POST', '/v1/messages')",
  );
  const bucket = db.prepare(
    "INSERT INTO bench_buckets VALUES ('default', ?, 4112, 1) ON CONFLICT (scope, start) DO UPDATE SET tokens = tokens + 4112, requests = requests + 1",
  );
  const state = db.prepare(
    "UPDATE bench_state SET tokens = tokens + 4112, requests = requests + 1, updated_at = ? WHERE scope = 'default'",
  );
  return db.transaction(() => {
    const now = Date.now();
    insert.run(now);
    bucket.run(now - (now % 1000));
    state.run(now);
  });
}

function walBytes(path: string): number {
  try {
    return statSync(`${path}-wal`).size;
  } catch {
    return 0;
  }
}

async function runMode(
  mode: Mode,
  rate: number,
  seconds: number,
  intervalMs: number,
  restartAboveBytes: number | undefined,
): Promise<Outcome> {
  const folder = mkdtempSync(join(tmpdir(), 'ratewarden-bench-checkpoint-'));
  const path = join(folder, 'ratewarden.db');
  const db = openDatabase(path);
  const commit = prepare(db);
  let checkpointMaxMs = 0;
  let walMaxBytes = 0;
  let stopCheckpoints: () => Promise<void>;
  if (mode === 'main') {
    const timer = setInterval(() => {
      walMaxBytes = Math.max(walMaxBytes, walBytes(path));
      const started = performance.now();
      checkpointPassive(db);
      checkpointMaxMs = Math.max(checkpointMaxMs, performance.now() - started);
    }, intervalMs);
    stopCheckpoints = async () => clearInterval(timer);
  } else {
    const checkpointer = await startCheckpointer(path, {
      intervalMs,
      ...(restartAboveBytes === undefined ? {} : { restartAboveBytes }),
      onCheckpoint: (report) => {
        checkpointMaxMs = Math.max(checkpointMaxMs, report.durationMs);
      },
    });
    stopCheckpoints = () => checkpointer.stop();
  }
  const total = Math.round(rate * seconds);
  const lateness: number[] = [];
  let commitMaxMs = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    let done = 0;
    const pump = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      for (; done < due; done++) {
        const began = performance.now();
        commit();
        const ended = performance.now();
        commitMaxMs = Math.max(commitMaxMs, ended - began);
        lateness.push(ended - (start + (done * 1000) / rate));
      }
      if (done % 100 === 0) walMaxBytes = Math.max(walMaxBytes, walBytes(path));
      if (done < total) setTimeout(pump, 1);
      else resolve();
    };
    pump();
  });
  await stopCheckpoints();
  walMaxBytes = Math.max(walMaxBytes, walBytes(path));
  db.close();
  rmSync(folder, { recursive: true, force: true });
  lateness.sort((a, b) => a - b);
  const at = (fraction: number): number => lateness[Math.min(lateness.length - 1, Math.floor(lateness.length * fraction))] as number;
  return {
    commits: total,
    lateP99Ms: at(0.99),
    lateMaxMs: lateness[lateness.length - 1] as number,
    commitMaxMs,
    checkpointMaxMs,
    walMaxBytes,
  };
}

function spread(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] as number;
  const format = (value: number): string => (value >= 100 ? Math.round(value).toString() : value.toFixed(2));
  return `${format(median)} [${format(sorted[0] as number)}–${format(sorted[sorted.length - 1] as number)}]`;
}

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1500' },
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    interval: { type: 'string', default: '1000' },
    'restart-above': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const intervalMs = Number(values.interval);
const restartAboveBytes = values['restart-above'] === undefined ? undefined : Number(values['restart-above']);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const results: Record<Mode, Outcome[]> = { main: [], thread: [] };
for (let round = 0; round < rounds; round++) {
  for (const mode of round % 2 === 0 ? (['main', 'thread'] as const) : (['thread', 'main'] as const)) {
    process.stderr.write(`round ${round + 1}/${rounds}: checkpoints on ${mode === 'main' ? 'the event loop' : 'a thread'} …\n`);
    results[mode].push(await runMode(mode, rate, seconds, intervalMs, restartAboveBytes));
  }
}
if (values.json) {
  process.stdout.write(`${JSON.stringify({ rate, seconds, rounds, results }, null, 2)}\n`);
} else {
  const column = (pick: (outcome: Outcome) => number): string[] =>
    (['main', 'thread'] as const).map((mode) => spread(results[mode].map(pick)));
  const rows: [string, string[]][] = [
    ['slowest commit from when it was due, ms', column((o) => o.lateMaxMs)],
    ['p99 commit from when it was due, ms', column((o) => o.lateP99Ms)],
    ['slowest commit itself, ms', column((o) => o.commitMaxMs)],
    ['slowest checkpoint, ms', column((o) => o.checkpointMaxMs)],
    ['largest WAL, KiB', column((o) => o.walMaxBytes / 1024)],
  ];
  process.stdout.write(
    `\n${rate} commits/s for ${seconds} s, a checkpoint every ${intervalMs} ms, ${rounds} rounds per mode; medians [min–max]\n| | checkpoint on the event loop | checkpoint on a thread |\n|---|---:|---:|\n`,
  );
  for (const [label, [main, thread]] of rows) process.stdout.write(`| ${label} | ${main} | ${thread} |\n`);
}
