/**
 * Restart latency of the supervisor with the real proxy worker: `ratewarden run --restart-sec 0`,
 * then, again and again, SIGKILL the worker and time from the kill to the new worker's ready
 * message (as the supervisor recorded it in supervisor_events). Target: median ≤ 500 ms.
 *
 * Usage: npm run bench:restart [-- --runs 20]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Database } from 'better-sqlite3';
import { openDatabase } from '../src/store/open.js';
import { SupervisorStore, type SupervisorEventRecord } from '../src/store/supervisorStore.js';

const binary = fileURLToPath(new URL('../bin/ratewarden', import.meta.url));
const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' } } });
const runs = Number(values.runs);

async function latestReady(db: () => Database | null, newerThan: number, timeoutMs: number, gone: () => string | null): Promise<SupervisorEventRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const connection = db();
    const ready = connection === null ? null : new SupervisorStore(connection).latestOf(['worker-ready']);
    if (ready !== null && ready.id > newerThan) return ready;
    const why = gone();
    if (why !== null) throw new Error(why);
    if (Date.now() > deadline) throw new Error(`no worker became ready within ${timeoutMs} ms`);
    await sleep(5);
  }
}

function summary(samples: readonly number[]): { median: number; max: number; min: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  const median = sorted.length % 2 === 1 ? (sorted[Math.floor(middle)] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  return { median, max: sorted.at(-1) as number, min: sorted[0] as number };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ratewarden-bench-restart-'));
  const dbPath = join(dir, 'ratewarden.db');
  const upstream = createServer((request, response) => {
    request.resume();
    response.end('{}');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

  // The burst limit far away: this loop of kills is on purpose.
  const supervisor = spawn(
    process.execPath,
    [binary, 'run', '--db', dbPath, '--upstream', upstreamUrl, '--listen', '127.0.0.1:0', '--restart-sec', '0', '--start-limit-burst', String(runs * 10), '--start-limit-interval', '1h'],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'config') } },
  );
  let supervisorExit: string | null = null;
  supervisor.once('exit', (code, signal) => {
    supervisorExit = `the supervisor exited (${signal ?? `code ${code}`})`;
  });
  let reader: Database | null = null;
  const db = (): Database | null => {
    if (reader === null) {
      try {
        reader = openDatabase(dbPath, { readonly: true });
      } catch {
        return null;
      }
    }
    return reader;
  };

  const latencies: number[] = [];
  const phases = { noticed: [] as number[], respawned: [] as number[], booted: [] as number[] };
  try {
    let ready = await latestReady(db, 0, 30_000, () => supervisorExit);
    for (let run = 0; run < runs; run++) {
      // Let the worker settle, as a worker that dies in service would have.
      await sleep(200);
      const killedAt = Date.now();
      process.kill(ready.workerPid as number, 'SIGKILL');
      const previous = ready.id;
      ready = await latestReady(db, previous, 30_000, () => supervisorExit);
      latencies.push(ready.at - killedAt);
      const events = new SupervisorStore(db() as Database).recent(10).filter((event) => event.id > previous);
      const failed = events.find((event) => event.kind === 'worker-failed');
      const started = events.find((event) => event.kind === 'worker-started');
      if (failed !== undefined && started !== undefined) {
        phases.noticed.push(failed.at - killedAt);
        phases.respawned.push(started.at - failed.at);
        phases.booted.push(ready.at - started.at);
      }
    }
  } finally {
    if (supervisorExit === null) {
      supervisor.kill('SIGTERM');
      await new Promise((resolve) => supervisor.once('exit', resolve));
    }
    (reader as Database | null)?.close();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const { median, max, min } = summary(latencies);
  process.stdout.write(
    `restart latency, worker SIGKILL → new worker ready (--restart-sec 0, real worker, ${runs} runs):\n` +
      `  median ${median.toFixed(0)} ms, max ${max.toFixed(0)} ms, min ${min.toFixed(0)} ms (target: median ≤ 500 ms) ${median <= 500 ? 'MET' : 'MISSED'}\n` +
      `  each run (ms): ${latencies.map((ms) => ms.toFixed(0)).join(' ')}\n` +
      `  median phases: death noticed ${summary(phases.noticed).median.toFixed(0)} ms, worker respawned ${summary(phases.respawned).median.toFixed(0)} ms, ` +
      `worker booted to ready ${summary(phases.booted).median.toFixed(0)} ms\n`,
  );
}

await main();
