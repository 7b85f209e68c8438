/**
 * The request path on PostgreSQL: admit + settle pairs through the storage port, each its own
 * transaction under the scope's row lock, from 1 and from 4 processes sharing one scope on one
 * loopback server (what N proxies sharing one budget do). Not a test: it prints a table.
 *
 *   npm run bench:admit:postgres                                  (starts a throwaway server)
 *   npm run bench:admit:postgres -- --db postgres://user:pw@127.0.0.1:5432/bench
 *
 * Environment: BENCH_PG_PROCESSES (comma-separated, default 1,4), BENCH_PG_SECONDS (measured
 * seconds per run, default 5), BENCH_PG_CONCURRENCY (pairs in flight per process, default 1).
 * With --db the database is used as it is (migrated if needed); its `bench` scope is reset.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { initialLimiterState } from '../src/core/types.js';
import type { Store, StoreTransaction } from '../src/store/port.js';
import { openPostgresStore } from '../src/store/postgres/openStore.js';
import { redactPostgresUrl } from '../src/store/postgres/url.js';
import { startPostgresServer } from '../test/helpers/postgresServer.js';
import { createDatabaseOn } from '../test/helpers/serverDatabase.js';

const scope = 'bench';
const windowMs = 60_000;
const bucketWidthMs = 600;
const budget = { tokens: 1_000_000_000_000, requests: 1_000_000_000 };
const estimate = { input: 1_200, output: 800 };
const usage = { input: 1_150, output: 640 };

/** What the warden's admit does on the store, in the same order: one transaction. */
async function admit(tx: StoreTransaction): Promise<number> {
  const state = (await tx.limiter.readState(scope)) ?? initialLimiterState;
  const bucketStart = tx.now - (tx.now % bucketWidthMs);
  const totals = await tx.limiter.bucketTotalsFrom(scope, tx.now - windowMs);
  const reports = await tx.reported.reports(scope);
  if (totals.inputTokens + totals.outputTokens + estimate.input + estimate.output > budget.tokens || totals.requests + 1 > budget.requests || reports.length > 0) {
    throw new Error('the bench budget was reached: it is meant to be far above the traffic');
  }
  const id = await tx.limiter.insertAdmitted({ scope, admittedAt: tx.now, bucketStart, method: 'POST', path: '/v1/messages', probe: false, estInputTokens: estimate.input, estOutputTokens: estimate.output, chargeOutputTokens: estimate.output, workerPid: process.pid });
  await tx.limiter.addToBucket(scope, bucketStart, estimate.input, estimate.output, 1);
  await tx.reported.addAdmitted(scope, estimate.input, estimate.output, 1);
  await tx.limiter.writeState(scope, { ...state, firstRequestAt: state.firstRequestAt ?? tx.now }, tx.now);
  return id;
}

/** What the warden's settle of a 2xx does: the reservation becomes the real usage. */
async function settle(tx: StoreTransaction, id: number): Promise<void> {
  const state = (await tx.limiter.readState(scope)) ?? initialLimiterState;
  const request = await tx.limiter.findRequest(id);
  if (request === null) throw new Error(`request ${id} is gone`);
  await tx.limiter.markSettled(id, tx.now, 'ok', 200, usage.input, usage.output);
  await tx.limiter.addToBucket(scope, request.bucketStart, usage.input - estimate.input, usage.output - estimate.output, 0);
  await tx.reported.correctAdmitted(scope, usage.input - estimate.input, usage.output - estimate.output);
  await tx.limiter.writeState(scope, { ...state, consecutive429s: 0 }, tx.now);
}

async function pair(store: Store): Promise<void> {
  const id = await store.transact(admit);
  await store.transact((tx) => settle(tx, id));
}

/** A child process: pairs for `seconds` after the parent says go, then its latencies on stdout. */
async function child(url: string, seconds: number, concurrency: number): Promise<void> {
  const store = await openPostgresStore({ url, host: `bench-${process.pid}`, poolSize: concurrency });
  for (let warm = 0; warm < 200; warm += 1) await pair(store);
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  // Nothing more comes on stdin; an open stdin would keep this process alive after its results.
  process.stdin.destroy();
  const latenciesUs: number[] = [];
  const endAt = performance.now() + seconds * 1_000;
  const loop = async (): Promise<void> => {
    while (performance.now() < endAt) {
      const start = performance.now();
      await pair(store);
      latenciesUs.push(Math.round((performance.now() - start) * 1_000));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  await store.close();
  process.stdout.write(`${JSON.stringify({ latenciesUs })}\n`);
}

interface Run {
  processes: number;
  pairsPerSecond: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

async function measure(url: string, processes: number, seconds: number, concurrency: number): Promise<Run> {
  const script = fileURLToPath(import.meta.url);
  const children = Array.from({ length: processes }, () =>
    spawn(process.execPath, ['--import', 'tsx', script, '--child', url, String(seconds), String(concurrency)], { stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  const lines = children.map((proc) => createInterface({ input: proc.stdout! })[Symbol.asyncIterator]());
  const next = async (index: number): Promise<string> => {
    const line = await lines[index]!.next();
    if (line.done) throw new Error(`bench child ${index} ended early`);
    return line.value;
  };
  await Promise.all(children.map(async (_, index) => {
    if ((await next(index)) !== 'ready') throw new Error('bench child did not get ready');
  }));
  const start = performance.now();
  for (const proc of children) proc.stdin!.end('go\n');
  const results = await Promise.all(children.map(async (_, index) => JSON.parse(await next(index)) as { latenciesUs: number[] }));
  const elapsedS = (performance.now() - start) / 1_000;
  const all = results.flatMap((result) => result.latenciesUs).sort((a, b) => a - b);
  const at = (q: number): number => all[Math.min(all.length - 1, Math.floor(q * all.length))] ?? 0;
  return { processes, pairsPerSecond: all.length / Math.max(elapsedS, seconds), p50Us: at(0.5), p99Us: at(0.99), maxUs: all[all.length - 1] ?? 0 };
}

async function resetScope(url: string): Promise<void> {
  const store = await openPostgresStore({ url, host: 'bench-parent', poolSize: 1 });
  await store.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('DELETE FROM requests WHERE scope = $1', [scope]);
    await client.query('DELETE FROM usage_buckets WHERE scope = $1', [scope]);
    await client.query('DELETE FROM limiter_state WHERE scope = $1', [scope]);
    await client.query('INSERT INTO limiter_state (scope, created_at, updated_at) VALUES ($1, 0, 0)', [scope]);
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const processCounts = (process.env.BENCH_PG_PROCESSES ?? '1,4').split(',').map((value) => Number(value.trim()));
  const seconds = Number(process.env.BENCH_PG_SECONDS ?? 5);
  const concurrency = Number(process.env.BENCH_PG_CONCURRENCY ?? 1);
  if (processCounts.some((count) => !Number.isSafeInteger(count) || count <= 0) || !(seconds > 0) || !Number.isSafeInteger(concurrency) || concurrency <= 0) {
    process.stderr.write('bench:admit:postgres: BENCH_PG_PROCESSES must be whole numbers > 0, BENCH_PG_SECONDS a number > 0, BENCH_PG_CONCURRENCY a whole number > 0\n');
    process.exit(2);
  }
  const dbIndex = process.argv.indexOf('--db');
  const given = dbIndex >= 0 ? process.argv[dbIndex + 1] : undefined;
  const server = given === undefined ? await startPostgresServer() : undefined;
  const onExit = (): void => server?.killNow();
  process.once('exit', onExit);
  try {
    let url = given;
    if (url === undefined) url = (await createDatabaseOn(server!.url, 'bench_admit')).url;
    const runs: Run[] = [];
    for (const processes of processCounts) {
      await resetScope(url);
      runs.push(await measure(url, processes, seconds, concurrency));
    }
    const where = given === undefined ? 'a throwaway loopback server (fsync off, as the tests run it)' : redactPostgresUrl(url);
    process.stdout.write(`bench:admit:postgres — ${where}; one scope; ${seconds} s per run; ${concurrency} pair(s) in flight per process\n`);
    process.stdout.write(`Node ${process.version}, ${cpus().length} CPUs, load average ${loadavg()[0]?.toFixed(2)}\n\n`);
    process.stdout.write('| processes | pairs/s | pair p50 | pair p99 | pair max |\n|---|---|---|---|---|\n');
    const ms = (us: number): string => `${(us / 1_000).toFixed(2)} ms`;
    for (const run of runs) process.stdout.write(`| ${run.processes} | ${Math.round(run.pairsPerSecond)} | ${ms(run.p50Us)} | ${ms(run.p99Us)} | ${ms(run.maxUs)} |\n`);
    const together = runs.find((run) => run.processes === 4) ?? runs[runs.length - 1]!;
    const met = together.pairsPerSecond >= 2_000 && together.p99Us <= 5_000;
    process.stdout.write(`\n  ≥ 2 000 pairs/s together at p99 ≤ 5 ms (${together.processes} processes): ${Math.round(together.pairsPerSecond)} pairs/s, p99 ${ms(together.p99Us)} — ${met ? 'met' : 'MISSED'}\n`);
  } finally {
    process.off('exit', onExit);
    await server?.stop();
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]));
} else {
  await main();
}
