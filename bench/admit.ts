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
import { openStore, type Durability } from '../src/store/openStore.js';
import { seedBenchHistory } from '../src/store/sqlite/benchHistory.js';
import { Warden } from '../src/warden/warden.js';

const sizes = (process.env.BENCH_ADMIT_SIZES ?? '0,1000000,10000000').split(',').map((size) => Number(size.trim()));
const scopeCounts = (process.env.BENCH_ADMIT_SCOPES ?? '1,100').split(',').map((scopes) => Number(scopes.trim()));
const pairs = Number(process.env.BENCH_ADMIT_PAIRS ?? 20_000);
const warmupPairs = Math.min(2_000, Math.ceil(pairs / 10));
const durability = (process.env.BENCH_ADMIT_DURABILITY ?? 'normal') as Durability;
if (
  sizes.some((size) => !Number.isSafeInteger(size) || size < 0) ||
  scopeCounts.some((scopes) => !Number.isSafeInteger(scopes) || scopes <= 0) ||
  !Number.isSafeInteger(pairs) ||
  pairs <= 0 ||
  !['normal', 'full'].includes(durability)
) {
  process.stderr.write(
    'bench:admit: BENCH_ADMIT_SIZES must be whole numbers ≥ 0, BENCH_ADMIT_SCOPES whole numbers > 0, BENCH_ADMIT_PAIRS a whole number > 0, BENCH_ADMIT_DURABILITY normal or full\n',
  );
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
  return Array.from(
    { length: scopes },
    (_, i) => `${(0xa000_0000_0000_0000n + BigInt(Math.floor(i / families.length))).toString(16)}/${families[i % families.length]}`,
  );
}

function percentiles(samples: Float64Array): Percentiles {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] as number };
}

async function measure(history: number, scopeCount: number): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'ratewarden-bench-'));
  const dbPath = join(dir, 'bench.db');
  try {
    const seedStart = process.hrtime.bigint();
    const scopes = scopeNames(scopeCount);
    seedBenchHistory(dbPath, { count: history, scopes, now: clock(), policy });
    const seedSeconds = Number(process.hrtime.bigint() - seedStart) / 1e9;
    const warden = await Warden.open({ store: await openStore({ db: dbPath, clock, durability }), policy, clock, heldFile: null });

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
        await warden.maintain();
        await warden.tick();
        nextTick = process.hrtime.bigint() + tickEveryNs;
        if (i >= 0) tickNs.push(Number(nextTick - tickEveryNs - tickStart));
      }
      const t0 = process.hrtime.bigint();
      const admission = await warden.admit(requests[(i + warmupPairs) % requests.length] as (typeof requests)[number]);
      const t1 = process.hrtime.bigint();
      if (admission.kind !== 'admitted') throw new Error(`bench request refused: ${admission.message}`);
      await warden.settle(admission.requestId, { outcome: 'ok', status: 200, usage });
      const t2 = process.hrtime.bigint();
      if (i >= 0) {
        admitNs[i] = Number(t1 - t0);
        settleNs[i] = Number(t2 - t1);
      }
    }
    const elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    await warden.close();
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
const count = (n: number): string =>
  n >= 1_000_000 ? `${n / 1_000_000} M` : n >= 1_000 ? `${n / 1_000} k` : n === 0 ? 'empty' : String(n);
const bytes = (n: number): string => (n >= 1_048_576 ? `${(n / 1_048_576).toFixed(0)} MiB` : `${(n / 1_024).toFixed(0)} KiB`);

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ');
}

process.stdout.write(
  `admit+settle: ${pairs} pairs after ${warmupPairs} warm-up, synchronous=${durability === 'full' ? 'FULL' : 'NORMAL'}, window ${policy.windowMs / 1_000} s, ` +
    `Node ${process.version}, ${cpus().length} CPUs, load average ${loadavg()[0]?.toFixed(2)} (p99 and max follow the machine's other work)\n\n`,
);
const header = [
  'history',
  'scopes',
  'db size',
  'seeded in',
  'pairs/s',
  'pair p50',
  'pair p99',
  'admit p50',
  'admit p99',
  'settle p50',
  'settle p99',
  'pair max',
  'ticks',
  'tick max',
];
const widths = [8, 6, 9, 9, 9, 10, 10, 10, 10, 10, 10, 11, 5, 10];
process.stdout.write(
  `${row(header, widths)}\n${row(
    widths.map((width) => '-'.repeat(width)),
    widths,
  )}\n`,
);
const runs: Run[] = [];
for (const size of sizes)
  for (const scopes of scopeCounts) {
    const run = await measure(size, scopes);
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
const largest = runs
  .filter((run) => run.scopes === fewestScopes)
  .reduce<Run | undefined>((big, run) => (big === undefined || run.history > big.history ? run : big), undefined);
process.stdout.write('\ntargets\n');
for (const run of runs) {
  process.stdout.write(
    `  pair p99 ≤ 100 µs with ${count(run.history)} history, ${run.scopes} scopes: ${us(run.pair.p99)} — ${run.pair.p99 <= 100_000 ? 'met' : 'MISSED'}\n`,
  );
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
