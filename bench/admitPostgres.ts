/**
 * The request path on PostgreSQL: admit + settle pairs through the warden (what a proxy does per
 * request), each its own transaction, from several processes on one loopback server. Not a
 * test: it prints a table.
 *
 *   npm run bench:admit:postgres                                   (starts a throwaway server)
 *   npm run bench:admit:postgres -- --db postgres://user:pw@127.0.0.1:5432/bench
 *   npm run bench:admit:postgres -- --before /path/to/an/older/checkout
 *
 * The runs, each BENCH_PG_SECONDS (default 5) measured seconds:
 * - 1 process, 1 scope; 4 processes, a scope each; 4 processes sharing one scope (what N proxies
 *   sharing one budget do): as fast as they go, one pair in flight per process;
 * - 4 processes sharing one scope, paced at BENCH_PG_RATE pairs/s together (default 500): the
 *   latency a fleet sees below saturation.
 * Round trips and statements are counted per pair: a statement sent while its connection waits for
 * none starts a round trip, one sent behind unanswered ones (pipelined) rides on theirs. CPU per
 * pair is the bench processes' and, on the throwaway server, the server's (Linux /proc). With --before, the
 * same runs go through the warden and store of that checkout too (its src/ imported as it is),
 * interleaved with this one's, BENCH_PG_ROUNDS times (default 3); the table shows each run's median.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { defaultLimiterPolicy, type LimiterPolicy } from '../src/core/types.js';
import { redactPostgresUrl } from '../src/store/postgres/url.js';
import type { Store } from '../src/store/port.js';
import type { Warden } from '../src/warden/warden.js';
import { startPostgresServer } from '../test/helpers/postgresServer.js';
import { createDatabaseOn } from '../test/helpers/serverDatabase.js';

const policy: LimiterPolicy = { ...defaultLimiterPolicy, tokenBudget: 1_000_000_000_000, requestBudget: 1_000_000_000 };
const estimate = { inputTokens: 1_200, outputTokens: 800 };
const usage = { inputTokens: 1_150, outputTokens: 640 };

interface Scenario {
  name: string;
  processes: number;
  sharedScope: boolean;
  /** Pairs per second of all processes together; null: as fast as they go. */
  rate: number | null;
}

interface ChildTask {
  url: string;
  tree: string;
  scope: string;
  seconds: number;
  /** Pairs per second of this process; null: as fast as it goes. */
  rate: number | null;
}

interface ChildResult {
  latenciesUs: number[];
  roundTrips: number;
  statements: number;
  cpuUs: number;
}

interface Run {
  pairsPerSecond: number;
  p50Us: number;
  p99Us: number;
  roundTripsPerPair: number;
  statementsPerPair: number;
  /** CPU per pair of the bench processes (the warden, the store, pg) and of the server's processes; null where /proc cannot tell. */
  clientCpuUs: number;
  serverCpuUs: number | null;
}

/** A child process: pairs through the warden of `tree` for `seconds` after the parent says go. */
async function child(task: ChildTask): Promise<void> {
  let roundTrips = 0;
  let statements = 0;
  const outstanding = new WeakMap<pg.Client, number>();
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  // A statement sent while none of its connection's is unanswered starts a round trip; one sent
  // behind unanswered ones (pipelined) rides on theirs.
  pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
    statements += 1;
    const before = outstanding.get(this) ?? 0;
    if (before === 0) roundTrips += 1;
    outstanding.set(this, before + 1);
    const answered = query.apply(this, args);
    const done = (): void => void outstanding.set(this, (outstanding.get(this) ?? 1) - 1);
    if (answered instanceof Promise) answered.then(done, done);
    else done();
    return answered;
  } as typeof pg.Client.prototype.query;
  const { openPostgresStore } = (await import(pathToFileURL(resolve(task.tree, 'src/store/postgres/openStore.ts')).href)) as {
    openPostgresStore: (options: { url: string; host: string; poolSize: number }) => Promise<Store>;
  };
  const { Warden: WardenOf } = (await import(pathToFileURL(resolve(task.tree, 'src/warden/warden.ts')).href)) as { Warden: typeof Warden };
  const warden = await WardenOf.open({
    store: await openPostgresStore({ url: task.url, host: `bench-${process.pid}`, poolSize: 2 }),
    policy,
    clock: Date.now,
    heldFile: null,
  });
  const pair = async (): Promise<void> => {
    const admission = await warden.admit({ method: 'POST', path: '/v1/messages', estimate, scope: task.scope });
    if (admission.kind !== 'admitted') throw new Error(`the bench budget was reached: ${admission.message}`);
    await warden.settle(admission.requestId, { outcome: 'ok', status: 200, usage });
  };
  for (let warm = 0; warm < 200; warm += 1) await pair();
  process.stdout.write('ready\n');
  await new Promise<void>((done) => process.stdin.once('data', () => done()));
  roundTrips = 0;
  statements = 0;
  const cpuAtStart = process.cpuUsage();
  const latenciesUs: number[] = [];
  const start = performance.now();
  const endAt = start + task.seconds * 1_000;
  const intervalMs = task.rate === null ? 0 : 1_000 / task.rate;
  for (let index = 0; performance.now() < endAt; index += 1) {
    const due = start + index * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((done) => setTimeout(done, wait));
    const begun = performance.now();
    await pair();
    latenciesUs.push(Math.round((performance.now() - begun) * 1_000));
  }
  const cpu = process.cpuUsage(cpuAtStart);
  process.stdout.write(`${JSON.stringify({ latenciesUs, roundTrips, statements, cpuUs: cpu.user + cpu.system } satisfies ChildResult)}\n`);
  // The connections stay open until the parent has read the server's CPU: a backend's time leaves /proc with it.
  await new Promise<void>((done) => process.stdin.once('end', () => done()).resume());
  await warden.close();
}

/** The CPU time, in µs, of the server's postmaster and every process it started (Linux's /proc); null elsewhere. */
function serverCpuUs(postmaster: number | null): number | null {
  if (postmaster === null) return null;
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields !== null && (Number(entry) === postmaster || Number(fields[1]) === postmaster))
      ticks += Number(fields[11]) + Number(fields[12]);
  }
  // /proc counts in clock ticks, 100 a second on Linux.
  return ticks * 10_000;
}

/** /proc/PID/stat's fields after the command's name (state first): null when the process is gone. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** The postmaster of the server behind `url`: the parent of a backend serving this connection. */
async function postmasterOf(url: string): Promise<number | null> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const fields = backend === undefined ? null : statFields(backend);
    return fields === null ? null : Number(fields[1]);
  } finally {
    await client.end();
  }
}

async function measure(url: string, tree: string, scenario: Scenario, seconds: number, label: string): Promise<Run> {
  const script = fileURLToPath(import.meta.url);
  const tasks: ChildTask[] = Array.from({ length: scenario.processes }, (_, index) => ({
    url,
    tree,
    seconds,
    scope: scenario.sharedScope ? `bench-${label}` : `bench-${label}-${index}`,
    rate: scenario.rate === null ? null : scenario.rate / scenario.processes,
  }));
  const children = tasks.map((task) =>
    spawn(process.execPath, ['--import', 'tsx', script, '--child', JSON.stringify(task)], { stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  const lines = children.map((proc) => createInterface({ input: proc.stdout! })[Symbol.asyncIterator]());
  const next = async (index: number): Promise<string> => {
    const line = await lines[index]!.next();
    if (line.done) throw new Error(`bench child ${index} ended early`);
    return line.value;
  };
  await Promise.all(
    children.map(async (_, index) => {
      if ((await next(index)) !== 'ready') throw new Error('bench child did not get ready');
    }),
  );
  const postmaster = await postmasterOf(url);
  const serverAtStart = serverCpuUs(postmaster);
  const start = performance.now();
  for (const proc of children) proc.stdin!.write('go\n');
  const results = await Promise.all(children.map(async (_, index) => JSON.parse(await next(index)) as ChildResult));
  const elapsedS = (performance.now() - start) / 1_000;
  const serverAtEnd = serverCpuUs(postmaster);
  await Promise.all(children.map((proc) => new Promise((done) => proc.once('exit', done).stdin!.end())));
  const all = results.flatMap((result) => result.latenciesUs).sort((a, b) => a - b);
  const at = (q: number): number => all[Math.min(all.length - 1, Math.floor(q * all.length))] ?? 0;
  const pairs = Math.max(1, all.length);
  return {
    pairsPerSecond: all.length / Math.max(elapsedS, seconds),
    p50Us: at(0.5),
    p99Us: at(0.99),
    roundTripsPerPair: results.reduce((sum, result) => sum + result.roundTrips, 0) / pairs,
    statementsPerPair: results.reduce((sum, result) => sum + result.statements, 0) / pairs,
    clientCpuUs: results.reduce((sum, result) => sum + result.cpuUs, 0) / pairs,
    // The children's pool connections end after the last pair: their backends' CPU is counted while they still run.
    serverCpuUs: serverAtStart === null || serverAtEnd === null ? null : (serverAtEnd - serverAtStart) / pairs,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function settingsOrExit(): { seconds: number; rate: number; rounds: number } {
  const seconds = Number(process.env.BENCH_PG_SECONDS ?? 5);
  const rate = Number(process.env.BENCH_PG_RATE ?? 500);
  const rounds = Number(process.env.BENCH_PG_ROUNDS ?? 3);
  if (!(seconds > 0) || !(rate > 0) || !Number.isSafeInteger(rounds) || rounds <= 0) {
    process.stderr.write(
      'bench:admit:postgres: BENCH_PG_SECONDS and BENCH_PG_RATE must be numbers > 0, BENCH_PG_ROUNDS a whole number > 0\n',
    );
    process.exit(2);
  }
  return { seconds, rate, rounds };
}

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

async function main(): Promise<void> {
  const { seconds, rate, rounds } = settingsOrExit();
  const scenarios: Scenario[] = [
    { name: '1 process, 1 scope', processes: 1, sharedScope: true, rate: null },
    { name: '4 processes, a scope each', processes: 4, sharedScope: false, rate: null },
    { name: '4 processes, 1 shared scope', processes: 4, sharedScope: true, rate: null },
    { name: `4 processes, 1 shared scope, ${rate} pairs/s`, processes: 4, sharedScope: true, rate },
  ];
  const here = resolve(fileURLToPath(import.meta.url), '../..');
  const before = argument('--before');
  const trees =
    before === undefined
      ? [{ name: 'this checkout', path: here }]
      : [
          { name: 'before', path: resolve(before) },
          { name: 'this checkout', path: here },
        ];
  const given = argument('--db');
  const server = given === undefined ? await startPostgresServer() : undefined;
  const onExit = (): void => server?.killNow();
  process.once('exit', onExit);
  try {
    const url = given ?? (await createDatabaseOn(server!.url, 'bench_admit')).url;
    const runs = new Map<string, Run[]>();
    for (let round = 0; round < rounds; round += 1) {
      for (const [s, scenario] of scenarios.entries()) {
        for (const [t, tree] of trees.entries()) {
          const run = await measure(url, tree.path, scenario, seconds, `${process.pid}-${round}-${s}-${t}`);
          runs.set(`${t}/${s}`, [...(runs.get(`${t}/${s}`) ?? []), run]);
        }
      }
    }
    const where = given === undefined ? 'a throwaway loopback server (fsync off, as the tests run it)' : redactPostgresUrl(url);
    process.stdout.write(`bench:admit:postgres — ${where}; ${seconds} s per run, ${rounds} round(s), median of the rounds\n`);
    process.stdout.write(`Node ${process.version}, ${cpus().length} CPUs, load average ${loadavg()[0]?.toFixed(2)}\n\n`);
    process.stdout.write(
      '| code | run | pairs/s | pair p50 | pair p99 | round trips per pair | statements per pair | client CPU per pair | server CPU per pair |\n|---|---|---|---|---|---|---|---|---|\n',
    );
    const ms = (us: number): string => `${(us / 1_000).toFixed(2)} ms`;
    for (const [s, scenario] of scenarios.entries()) {
      for (const [t, tree] of trees.entries()) {
        const measured = runs.get(`${t}/${s}`) ?? [];
        const pick = (of: (run: Run) => number): number => median(measured.map(of));
        process.stdout.write(
          `| ${tree.name} | ${scenario.name} | ${Math.round(pick((run) => run.pairsPerSecond))} | ${ms(pick((run) => run.p50Us))} | ${ms(pick((run) => run.p99Us))} | ${pick((run) => run.roundTripsPerPair).toFixed(1)} | ${pick((run) => run.statementsPerPair).toFixed(1)} | ${Math.round(pick((run) => run.clientCpuUs))} µs | ${measured.some((run) => run.serverCpuUs === null) ? 'n/a' : `${Math.round(pick((run) => run.serverCpuUs ?? 0))} µs`} |\n`,
        );
      }
    }
  } finally {
    process.off('exit', onExit);
    await server?.stop();
  }
}

if (process.argv[2] === '--child') {
  await child(JSON.parse(process.argv[3]!) as ChildTask);
} else {
  await main();
}
