/**
 * A fleet through the CLI: N `ratewarden run --no-supervise` processes (as N hosts run them, each
 * with a state folder of its own) on one PostgreSQL server, sharing one scope and its budget, in
 * front of a simulated upstream; one process on SQLite as the reference. Not a test: it prints
 * a table.
 *
 *   npm run bench:fleet                                   (starts a throwaway loopback server)
 *   npm run bench:fleet -- --db postgres://user:pw@127.0.0.1:5432/postgres
 *
 * Each configuration is measured twice, on a database of its own each time:
 * - throughput: autocannon against every proxy at once for BENCH_FLEET_SECONDS (default 10),
 *   BENCH_FLEET_CONNECTIONS in all (default 32, shared out among the proxies), with a request
 *   budget far above the load: forwarded req/s together, latency p50 (the mean of the proxies'
 *   p50s) and p99 (the highest of their p99s);
 * - the budget: BENCH_FLEET_BUDGET (default 500) requests per 10 min window, `--max-wait 0`, and
 *   four times as many requests sent at once across the proxies: what the upstream received
 *   against the budget (never above it).
 * BENCH_FLEET_PROCESSES (default 1,4) lists the fleet sizes on PostgreSQL. With --db, a database
 * is created on that server for each measurement (its user must be allowed to) and dropped after.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { execa, type ResultPromise } from 'execa';
import { startSimUpstream, type SimUpstream } from '../src/sim/upstream.js';
import { redactPostgresUrl } from '../src/store/postgres/url.js';
import { startPostgresServer } from '../test/helpers/postgresServer.js';
import { createDatabaseOn } from '../test/helpers/serverDatabase.js';

const binary = fileURLToPath(new URL('../bin/ratewarden', import.meta.url));
const seconds = Number(process.env.BENCH_FLEET_SECONDS ?? 10);
const connections = Number(process.env.BENCH_FLEET_CONNECTIONS ?? 32);
const budget = Number(process.env.BENCH_FLEET_BUDGET ?? 500);
const fleetSizes = (process.env.BENCH_FLEET_PROCESSES ?? '1,4').split(',').map(Number);

const body = JSON.stringify({ model: 'claude-sim', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
const headers = { 'content-type': 'application/json', 'x-api-key': 'sk-bench-fleet', 'anthropic-version': '2023-06-01' };

interface Proxy {
  process: ResultPromise;
  url: string;
}

async function startProxy(db: string, upstream: SimUpstream, extra: readonly string[]): Promise<Proxy> {
  const home = mkdtempSync(join(tmpdir(), 'ratewarden-bench-fleet-'));
  const child = execa(
    binary,
    [
      'run',
      '--no-supervise',
      '--listen',
      '127.0.0.1:0',
      '--db',
      db,
      '--upstream',
      upstream.url,
      '--provider',
      'anthropic',
      '--window',
      '10m',
      ...extra,
    ],
    {
      env: { ...process.env, XDG_STATE_HOME: join(home, 'state'), XDG_CONFIG_HOME: join(home, 'config') },
      reject: false,
      stdin: 'ignore',
      cleanup: true,
    },
  );
  void child.finally(() => rmSync(home, { recursive: true, force: true }));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1] as string);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    void child.then(() => reject(new Error(`a proxy exited before listening:\n${output}`)));
  });
  return { process: child, url };
}

async function stopAll(proxies: readonly Proxy[]): Promise<void> {
  for (const proxy of proxies) proxy.process.kill('SIGTERM');
  await Promise.all(proxies.map((proxy) => proxy.process));
}

/** A database of its own for each measurement: a SQLite file, or a database on the server. */
interface Database {
  url: string;
  drop(): Promise<void>;
}

function sqliteDatabase(): Database {
  const dir = mkdtempSync(join(tmpdir(), 'ratewarden-bench-fleet-db-'));
  return { url: join(dir, 'ratewarden.db'), drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

async function postgresDatabase(serverUrl: string): Promise<Database> {
  const database = await createDatabaseOn(serverUrl, 'rw_bench_fleet');
  return { url: database.url, drop: () => database.drop() };
}

interface Throughput {
  forwardedPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
}

async function throughput(makeDb: () => Promise<Database>, size: number, upstream: SimUpstream): Promise<Throughput> {
  const db = await makeDb();
  const proxies = await Promise.all(Array.from({ length: size }, () => startProxy(db.url, upstream, ['--request-budget', '1000000000'])));
  try {
    const each = Math.max(1, Math.round(connections / size));
    const results = await Promise.all(
      proxies.map((proxy) =>
        autocannon({ url: `${proxy.url}/v1/messages`, connections: each, method: 'POST', headers, body, duration: seconds }),
      ),
    );
    const forwarded = results.reduce((sum, result) => sum + result['2xx'], 0);
    return {
      forwardedPerSecond: forwarded / seconds,
      p50Ms: results.reduce((sum, result) => sum + result.latency.p50, 0) / results.length,
      p99Ms: Math.max(...results.map((result) => result.latency.p99)),
      failed: results.reduce((sum, result) => sum + result.non2xx + result.errors + result.timeouts, 0),
    };
  } finally {
    await stopAll(proxies);
    await db.drop();
  }
}

interface BudgetCheck {
  sent: number;
  answered200: number;
  upstreamReceived: number;
}

async function budgetCheck(makeDb: () => Promise<Database>, size: number, upstream: SimUpstream): Promise<BudgetCheck> {
  const db = await makeDb();
  const proxies = await Promise.all(
    Array.from({ length: size }, () => startProxy(db.url, upstream, ['--request-budget', String(budget), '--max-wait', '0'])),
  );
  try {
    upstream.resetStats();
    const sent = budget * 4;
    let next = 0;
    let answered200 = 0;
    const client = async (): Promise<void> => {
      while (next < sent) {
        const index = next++;
        const answer = await fetch(`${(proxies[index % size] as Proxy).url}/v1/messages`, { method: 'POST', headers, body });
        await answer.arrayBuffer();
        if (answer.status === 200) answered200 += 1;
      }
    };
    await Promise.all(Array.from({ length: connections }, client));
    return { sent, answered200, upstreamReceived: upstream.stats().requests };
  } finally {
    await stopAll(proxies);
    await db.drop();
  }
}

async function main(): Promise<void> {
  const dbIndex = process.argv.indexOf('--db');
  const given = dbIndex >= 0 ? process.argv[dbIndex + 1] : undefined;
  const server = given === undefined ? await startPostgresServer() : undefined;
  const serverUrl = given ?? (server?.url as string);
  const upstream = await startSimUpstream({ tokenLimit: 1e12, reportLimits: false });
  try {
    const configs: { name: string; size: number; makeDb: () => Promise<Database> }[] = [
      { name: 'SQLite, 1 process (reference)', size: 1, makeDb: async () => sqliteDatabase() },
      ...fleetSizes.map((size) => ({
        name: `PostgreSQL, ${size} process${size === 1 ? '' : 'es'}`,
        size,
        makeDb: () => postgresDatabase(serverUrl),
      })),
    ];
    const lines: string[] = [];
    for (const config of configs) {
      process.stderr.write(`${config.name} …\n`);
      const speed = await throughput(config.makeDb, config.size, upstream);
      const check = await budgetCheck(config.makeDb, config.size, upstream);
      const verdict = check.upstreamReceived <= budget ? 'never above' : 'ABOVE THE BUDGET';
      lines.push(
        `| ${config.name} | ${speed.forwardedPerSecond.toFixed(0)} | ${speed.p50Ms.toFixed(1)} | ${speed.p99Ms.toFixed(1)} | ${speed.failed} | ${check.upstreamReceived} / ${budget} (${verdict}; ${check.answered200} answered 200 of ${check.sent}) |`,
      );
    }
    process.stdout.write(
      [
        `ratewarden fleet: ${seconds} s per run, ${connections} connections in all, server ${redactPostgresUrl(serverUrl)}${server ? ' (throwaway, loopback, fsync off)' : ''}`,
        `${cpus().length} CPUs, load average ${loadavg()
          .map((value) => value.toFixed(1))
          .join(' ')}`,
        '',
        '| configuration | forwarded req/s together | p50 ms | p99 ms | not 200 | upstream requests / request budget |',
        '|---|---|---|---|---|---|',
        ...lines,
        '',
      ].join('\n'),
    );
  } finally {
    await upstream.close();
    await server?.stop();
  }
}

await main();
