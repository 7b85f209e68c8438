/**
 * The cost of the request path: admit + settle pairs, each its own IMMEDIATE transaction, against
 * databases holding no history, 1 M and 10 M recorded requests, with 1 and with 100 active
 * scopes (the pairs go round-robin over the scopes, each with usage in its window). Not a test:
 * it prints a table.
 *
 *   npm run bench:admit
 *   BENCH_ADMIT_SIZES=0,100000 BENCH_ADMIT_PAIRS=5000 npm run bench:admit   (a quick run)
 *
 * Environment: BENCH_ADMIT_SIZES (recorded requests per run, comma-separated; default
 * 0,1000000,10000000), BENCH_ADMIT_SCOPES (active scopes per run, comma-separated; default
 * 1,100), BENCH_ADMIT_PAIRS (measured pairs per run, default 20000), BENCH_ADMIT_DURABILITY
 * (normal or full, default normal).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultLimiterPolicy, type LimiterPolicy } from '../src/core/types.js';
import { bucketStartFor, bucketWidthFor } from '../src/core/window.js';
import type { Durability } from '../src/store/open.js';
import { Warden } from '../src/warden/warden.js';

const sizes = (process.env.BENCH_ADMIT_SIZES ?? '0,1000000,10000000').split(',').map((size) => Number(size.trim()));
const scopeCounts = (process.env.BENCH_ADMIT_SCOPES ?? '1,100').split(',').map((scopes) => Number(scopes.trim()));
const pairs = Number(process.env.BENCH_ADMIT_PAIRS ?? 20_000);
const warmupPairs = Math.min(2_000, Math.ceil(pairs / 10));
const durability = (process.env.BENCH_ADMIT_DURABILITY ?? 'normal') as Durability;
if (sizes.some((size) => !Number.isSafeInteger(size) || size < 0) || scopeCounts.some((scopes) => !Number.isSafeInteger(scopes) || scopes <= 0) || !Number.isSafeInteger(pairs) || pairs <= 0 || !['normal', 'full'].includes(durability)) {
  process.stderr.write('bench:admit: BENCH_ADMIT_SIZES must be whole numbers ≥ 0, BENCH_ADMIT_SCOPES whole numbers > 0, BENCH_ADMIT_PAIRS a whole number > 0, BENCH_ADMIT_DURABILITY normal or full\n');
  process.exit(2);
}

// Budgets far above the traffic: every request goes through the whole admission, none is refused.
const policy: LimiterPolicy = { ...defaultLimiterPolicy, tokenBudget: 1_000_000_000_000, requestBudget: 1_000_000_000 };
const clock = (): number => Date.now();
const estimate = { inputTokens: 1_200, outputTokens: 800 };
const usage = { inputTokens: 1_150, outputTokens: 640 };
const tickEveryNs = 1_000_000_000n;

interface Run {
  history: number;
  scopes: number;
  seedSeconds: number;
  dbBytes: number;
  pairsPerSecond: number;
  pair: Percentiles;
  admit: Percentiles;
  settle: Percentiles;
  tick: Percentiles | null;
  tickCount: number;
}

interface Percentiles {
  p50: number;
  p99: number;
  max: number;
}

/** The scope names of a run: API-key fingerprint × family, as the proxy names them. */
function scopeNames(scopes: number): string[] {
  const families = ['claude-opus', 'claude-sonnet', 'claude-haiku', 'gpt-4o', 'gpt-4o-mini'];
  return Array.from({ length: scopes }, (_, i) => `${(0xa000_0000_0000_0000n + BigInt(Math.floor(i / families.length))).toString(16)}/${families[i % families.length]}`);
}

/**
 * History as a long-running proxy leaves it: `count` settled requests spread evenly over the
 * retention period up to now and over the scopes, in one transaction through the store's own
 * connection. Every scope is active: its state row exists and its window (and the grace after
 * it that retention keeps) holds traffic, as under real load.
 */
function seedHistory(warden: Warden, count: number, scopes: readonly string[], now: number): void {
  const widthMs = bucketWidthFor(policy.windowMs);
  const oldest = now - policy.retentionMs;
  const db = warden.db;
  db.prepare('CREATE TEMP TABLE bench_scopes (n INTEGER PRIMARY KEY, scope TEXT NOT NULL)').run();
  const addScope = db.prepare('INSERT INTO bench_scopes (n, scope) VALUES (?, ?)');
  scopes.forEach((scope, n) => addScope.run(n, scope));
  db.transaction(() => {
    if (count > 0) {
      db.prepare(
        `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < @last)
         INSERT INTO requests (admitted_at, bucket_start, settled_at, method, path, outcome, status, probe,
                               est_input_tokens, est_output_tokens, input_tokens, output_tokens, worker_pid, scope)
         SELECT CAST(@oldest + i * @step AS INTEGER), (CAST(@oldest + i * @step AS INTEGER) / @width) * @width,
                CAST(@oldest + i * @step AS INTEGER) + 900, 'POST', '/v1/messages', 'ok', 200, 0, 1200, 800, 1150, 640, 4242,
                (SELECT scope FROM bench_scopes WHERE n = i % @scopes)
         FROM seq`,
      ).run({ last: count - 1, oldest, step: policy.retentionMs / count, width: widthMs, scopes: scopes.length });
    }
    const keptMs = 2 * policy.windowMs;
    const buckets = Math.floor(keptMs / widthMs);
    db.prepare(
      `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < @last)
       INSERT INTO usage_buckets (scope, start, input_tokens, output_tokens, requests)
       SELECT s.scope, @firstBucket + i * @width, 1150, 640, 1 FROM seq, bench_scopes s`,
    ).run({ last: buckets - 1, firstBucket: bucketStartFor(now - keptMs, widthMs), width: widthMs });
    const state = db.prepare(
      'INSERT INTO limiter_state (scope, token_budget, request_budget, configured_token_budget, configured_request_budget, first_request_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scope) DO UPDATE SET first_request_at = excluded.first_request_at',
    );
    for (const scope of scopes) state.run(scope, policy.tokenBudget, policy.requestBudget, policy.tokenBudget, policy.requestBudget, oldest, now, now);
  }).immediate();
  db.pragma('wal_checkpoint(TRUNCATE)');
}

function percentiles(samples: Float64Array): Percentiles {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] as number };
}

function measure(history: number, scopeCount: number): Run {
  const dir = mkdtempSync(join(tmpdir(), 'ratewarden-bench-'));
  const dbPath = join(dir, 'bench.db');
  try {
    const warden = Warden.open({ dbPath, policy, clock, durability });
    const seedStart = process.hrtime.bigint();
    const scopes = scopeNames(scopeCount);
    seedHistory(warden, history, scopes, clock());
    const seedSeconds = Number(process.hrtime.bigint() - seedStart) / 1e9;

    const admitNs = new Float64Array(pairs);
    const settleNs = new Float64Array(pairs);
    const requests = scopes.map((scope) => ({ method: 'POST', path: '/v1/messages', estimate, scope }));
    const tickNs: number[] = [];
    let nextTick = process.hrtime.bigint() + tickEveryNs;
    let started = 0n;
    for (let i = -warmupPairs; i < pairs; i++) {
      if (i === 0) started = process.hrtime.bigint();
      // The proxy ticks about once a second; its tick (controller, retention, WAL checkpoint) is
      // timed on its own, outside the pairs, but inside the throughput figure.
      if (process.hrtime.bigint() >= nextTick) {
        const tickStart = process.hrtime.bigint();
        warden.tick();
        nextTick = process.hrtime.bigint() + tickEveryNs;
        if (i >= 0) tickNs.push(Number(nextTick - tickEveryNs - tickStart));
      }
      const t0 = process.hrtime.bigint();
      const admission = warden.admit(requests[(i + warmupPairs) % requests.length] as (typeof requests)[number]);
      const t1 = process.hrtime.bigint();
      if (admission.kind !== 'admitted') throw new Error(`bench request refused: ${admission.message}`);
      warden.settle(admission.requestId, { outcome: 'ok', status: 200, usage });
      const t2 = process.hrtime.bigint();
      if (i >= 0) {
        admitNs[i] = Number(t1 - t0);
        settleNs[i] = Number(t2 - t1);
      }
    }
    const elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    warden.close();
    const pairNs = admitNs.map((admit, i) => admit + (settleNs[i] as number));
    return {
      history,
      scopes: scopeCount,
      seedSeconds,
      dbBytes: statSync(dbPath).size,
      pairsPerSecond: pairs / elapsedSeconds,
      pair: percentiles(pairNs),
      admit: percentiles(admitNs),
      settle: percentiles(settleNs),
      tick: tickNs.length === 0 ? null : percentiles(Float64Array.from(tickNs)),
      tickCount: tickNs.length,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const us = (ns: number): string => `${(ns / 1_000).toFixed(1)} µs`;
const count = (n: number): string => (n >= 1_000_000 ? `${n / 1_000_000} M` : n >= 1_000 ? `${n / 1_000} k` : n === 0 ? 'empty' : String(n));
const bytes = (n: number): string => (n >= 1_048_576 ? `${(n / 1_048_576).toFixed(0)} MiB` : `${(n / 1_024).toFixed(0)} KiB`);

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ');
}

process.stdout.write(
  `admit+settle: ${pairs} pairs after ${warmupPairs} warm-up, synchronous=${durability === 'full' ? 'FULL' : 'NORMAL'}, window ${policy.windowMs / 1_000} s, ` +
    `Node ${process.version}, ${cpus().length} CPUs, load average ${loadavg()[0]?.toFixed(2)} (p99 and max follow the machine's other work)\n\n`,
);
const header = ['history', 'scopes', 'db size', 'seeded in', 'pairs/s', 'pair p50', 'pair p99', 'admit p50', 'admit p99', 'settle p50', 'settle p99', 'pair max', 'ticks', 'tick max'];
const widths = [8, 6, 9, 9, 9, 10, 10, 10, 10, 10, 10, 11, 5, 10];
process.stdout.write(`${row(header, widths)}\n${row(widths.map((width) => '-'.repeat(width)), widths)}\n`);
const runs: Run[] = [];
for (const size of sizes) for (const scopes of scopeCounts) {
  const run = measure(size, scopes);
  runs.push(run);
  process.stdout.write(
    `${row(
      [
        count(run.history),
        String(run.scopes),
        bytes(run.dbBytes),
        `${run.seedSeconds.toFixed(1)} s`,
        run.pairsPerSecond.toFixed(0),
        us(run.pair.p50),
        us(run.pair.p99),
        us(run.admit.p50),
        us(run.admit.p99),
        us(run.settle.p50),
        us(run.settle.p99),
        us(run.pair.max),
        String(run.tickCount),
        run.tick === null ? '-' : us(run.tick.max),
      ],
      widths,
    )}\n`,
  );
}

const fewestScopes = Math.min(...scopeCounts);
const baseline = runs.find((run) => run.history === 0 && run.scopes === fewestScopes);
const largest = runs.filter((run) => run.scopes === fewestScopes).reduce<Run | undefined>((big, run) => (big === undefined || run.history > big.history ? run : big), undefined);
process.stdout.write('\ntargets\n');
for (const run of runs) {
  process.stdout.write(`  pair p99 ≤ 100 µs with ${count(run.history)} history, ${run.scopes} scopes: ${us(run.pair.p99)} — ${run.pair.p99 <= 100_000 ? 'met' : 'MISSED'}\n`);
}
// The request path reads and writes one scope's rows: the cost per request must not grow with the number of scopes.
for (const run of runs.filter((candidate) => candidate.scopes !== fewestScopes)) {
  const one = runs.find((candidate) => candidate.history === run.history && candidate.scopes === fewestScopes);
  if (one === undefined) continue;
  const p50Ratio = run.pair.p50 / one.pair.p50;
  const rate = run.pairsPerSecond / one.pairsPerSecond;
  const met = p50Ratio <= 1.25 && rate >= 0.8;
  process.stdout.write(
    `  ${run.scopes} scopes within 1.25× of ${fewestScopes} (${count(run.history)} history): pair p50 ${us(one.pair.p50)} → ${us(run.pair.p50)} (×${p50Ratio.toFixed(2)}), throughput ×${rate.toFixed(2)} — ${met ? 'met' : 'MISSED'}\n`,
  );
}
if (baseline !== undefined && largest !== undefined && largest !== baseline) {
  const p50Ratio = largest.pair.p50 / baseline.pair.p50;
  const p99Ratio = largest.pair.p99 / baseline.pair.p99;
  const rateRatio = baseline.pairsPerSecond / largest.pairsPerSecond;
  const met = Math.max(p50Ratio, p99Ratio, rateRatio) <= 1.5;
  process.stdout.write(
    `  ${count(largest.history)} within 1.5× of empty: p50 ×${p50Ratio.toFixed(2)}, p99 ×${p99Ratio.toFixed(2)}, throughput ×${(1 / rateRatio).toFixed(2)} — ${met ? 'met' : 'MISSED'}\n`,
  );
}
