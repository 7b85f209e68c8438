import { execa, type ResultPromise } from 'execa';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimUpstream } from '../../src/sim/upstream.js';
import { openPostgresStore } from '../../src/store/postgres/openStore.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgresDatabase.js';
import { startPostgresServer, type PostgresServer } from '../helpers/postgresServer.js';
import { binary, cliEnv, requireBuild, runCli } from './operatorCli.js';
import { StartedProcesses, type StartedWorker } from './startedProcesses.js';
import { freeLoopbackPort } from '../helpers/freePort.js';

/**
 * A fleet: several `ratewarden run --no-supervise` processes (as several hosts run them, each
 * with a state folder of its own) on one PostgreSQL server, through the built CLI as a user
 * starts them, in front of a real simulated upstream. Each test has a database of its own.
 */
const dirs = new ScratchDirs();
const started = new StartedProcesses();
const databases: TestDatabase[] = [];
const servers: PostgresServer[] = [];

afterEach(async () => {
  await started.stopAll();
  await Promise.all(databases.splice(0).map((database) => database.drop()));
  await Promise.all(servers.splice(0).map((server) => server.stop()));
  dirs.removeAll();
});

async function freshDatabase(): Promise<string> {
  const database = await createTestDatabase();
  databases.push(database);
  return database.url;
}

const message = JSON.stringify({ model: 'claude-sim', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
/** What one message costs, reserved and spent alike: its bytes / 4 in, max_tokens out (the sim answers 50, cut to 20). */
const messageTokens = Math.ceil(Buffer.byteLength(message) / 4) + 20;

async function post(url: string): Promise<Response> {
  // A bound, so that a connection nobody answers fails here and names itself, not as the test's timeout.
  const answer = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-fleet' },
    body: message,
    signal: AbortSignal.timeout(30_000),
  });
  await answer.arrayBuffer();
  return answer;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** What the fleet's tables say it admitted: request rows, and the requests its usage buckets count. */
async function recorded(url: string): Promise<{ rows: number; bucketRequests: number }> {
  const [counts] = await query<{ rows: string; bucket_requests: string | null }>(
    url,
    'SELECT (SELECT COUNT(*) FROM requests) AS rows, (SELECT SUM(requests) FROM usage_buckets) AS bucket_requests',
  );
  return { rows: Number(counts?.rows ?? 0), bucketRequests: Number(counts?.bucket_requests ?? 0) };
}

/**
 * The cooldown the fleet's tables hold, once there is one: the proxy answers the upstream's 429
 * as it records it, so the row may come a moment after the answer.
 */
async function cooldownUntil(url: string): Promise<number> {
  for (let attempt = 1; ; attempt += 1) {
    const [row] = await query<{ until: string | null }>(url, 'SELECT MAX(cooldown_until) AS until FROM limiter_state');
    if (row?.until !== null && row?.until !== undefined) return Number(row.until);
    if (attempt === 100) throw new Error('no cooldown was recorded');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Proxies started side by side on one store, each in a home (config and state folders) of its own, as on separate hosts. */
function fleetOf(count: number, args: readonly string[]): Promise<StartedWorker[]> {
  return Promise.all(Array.from({ length: count }, () => started.worker(dirs.make(), args)));
}

/**
 * Clients that keep sending through their proxies until stopped, each one request at a time,
 * counting the answers by status and reason.
 */
class Load {
  private running = true;
  private readonly loops: Promise<void>[];
  readonly answers = new Map<string, number>();
  private seen = 0;
  private waiters: { key: string | null; count: number; resolve: () => void }[] = [];

  constructor(urls: readonly string[], clientsPerProxy: number) {
    this.loops = urls.flatMap((url) => Array.from({ length: clientsPerProxy }, () => this.loop(url)));
  }

  private async loop(url: string): Promise<void> {
    while (this.running) {
      let key: string;
      try {
        const answer = await post(url);
        key = `${answer.status} ${answer.headers.get('x-ratewarden-reason') ?? ''}`.trim();
      } catch {
        // The proxy was killed under this client: the connection broke.
        key = 'connection-lost';
      }
      this.answers.set(key, (this.answers.get(key) ?? 0) + 1);
      this.seen += 1;
      const reached = (entry: { key: string | null; count: number }): boolean =>
        (entry.key === null ? this.seen : this.count(entry.key)) >= entry.count;
      for (const waiter of this.waiters.filter(reached)) waiter.resolve();
      this.waiters = this.waiters.filter((entry) => !reached(entry));
      // A refused or broken request is not retried in a tight loop.
      if (key !== '200') await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Resolves once `more` further answers came back (of any kind). */
  answered(more: number): Promise<void> {
    return this.waitFor(null, this.seen + more);
  }

  /** Resolves once `more` further requests were answered 200. */
  served(more: number): Promise<void> {
    return this.waitFor('200', this.count('200') + more);
  }

  private waitFor(key: string | null, count: number): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ key, count, resolve }));
  }

  count(key: string): number {
    return this.answers.get(key) ?? 0;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

/** Asks until an answer other than `while` comes back (a proxy reconnecting by itself), at most `tries` times. */
async function firstAnswerOtherThan(url: string, status: number, tries: number): Promise<Response> {
  for (let attempt = 1; ; attempt += 1) {
    const answer = await post(url);
    if (answer.status !== status || attempt === tries) return answer;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function upstreamRequests(upstream: SimUpstream): number {
  return upstream.stats().requests;
}

describe('a fleet of proxies on one PostgreSQL server', () => {
  it('never admits beyond the shared request budget together: three proxies admit exactly the budget once', async () => {
    const db = await freshDatabase();
    const upstream = await started.sim();
    const proxies = await fleetOf(3, [
      '--db',
      db,
      '--upstream',
      upstream.url,
      '--provider',
      'anthropic',
      '--request-budget',
      '25',
      '--max-wait',
      '0',
    ]);
    const answers = await Promise.all(Array.from({ length: 90 }, (_, index) => post((proxies[index % 3] as StartedWorker).url)));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(25);
    expect(
      answers.filter((answer) => answer.status !== 200).map((answer) => `${answer.status} ${answer.headers.get('x-ratewarden-reason')}`),
    ).toEqual(Array(65).fill('429 budget'));
    expect(upstreamRequests(upstream)).toBe(25);
    expect(await recorded(db)).toEqual({ rows: 25, bucketRequests: 25 });
  });

  it('never admits beyond the shared token budget together: three proxies spend it to the last whole request', async () => {
    const db = await freshDatabase();
    const upstream = await started.sim();
    // Room for 12.5 messages: whatever the interleaving, exactly 12 fit, and their usage is what they reserved.
    const budget = Math.floor(12.5 * messageTokens);
    const proxies = await fleetOf(3, [
      '--db',
      db,
      '--upstream',
      upstream.url,
      '--provider',
      'anthropic',
      '--token-budget',
      String(budget),
      '--max-wait',
      '0',
    ]);
    const answers = await Promise.all(Array.from({ length: 60 }, (_, index) => post((proxies[index % 3] as StartedWorker).url)));
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(12);
    expect(
      answers.filter((answer) => answer.status !== 200).map((answer) => `${answer.status} ${answer.headers.get('x-ratewarden-reason')}`),
    ).toEqual(Array(48).fill('429 budget'));
    expect(upstreamRequests(upstream)).toBe(12);
    expect(upstream.stats().tokensServed).toBe(12 * messageTokens);
    expect(upstream.stats().tokensServed).toBeLessThanOrEqual(budget);
    const [spent] = await query<{ tokens: string }>(db, 'SELECT SUM(input_tokens + output_tokens) AS tokens FROM usage_buckets');
    expect(Number(spent?.tokens)).toBe(12 * messageTokens);
  });

  it('remembers a cooldown across SIGKILL on the server: the restarted proxy and another host refuse, the upstream sees nothing', async () => {
    const db = await freshDatabase();
    const upstream = await started.sim();
    const args = ['--db', db, '--upstream', upstream.url, '--provider', 'anthropic', '--backoff-base', '30s'];
    const home = dirs.make();
    const first = await started.worker(home, args);
    upstream.setMode('always-429');
    expect((await post(first.url)).status).toBe(429);
    upstream.setMode('normal');
    const until = await cooldownUntil(db);
    expect(until).toBeGreaterThan(Date.now());

    first.worker.kill('SIGKILL');
    expect((await first.worker).signal).toBe('SIGKILL');

    // The premise: both are up inside the 30 s cooldown (a start takes well under a second).
    const [restarted, otherHost] = await Promise.all([started.worker(home, args), started.worker(dirs.make(), args)]);
    for (const proxy of [restarted, otherHost] as StartedWorker[]) {
      const refused = await post(proxy.url);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('x-ratewarden-reason')).toBe('cooldown');
      expect(Number(refused.headers.get('retry-after-ms'))).toBeGreaterThan(0);
    }
    expect(Date.now()).toBeLessThan(until);
    expect(upstreamRequests(upstream)).toBe(1);
  });

  it('loses no committed mutation when a proxy is killed -9 under load: every forward has its row, the buckets count each row once', async () => {
    const db = await freshDatabase();
    const upstream = await started.sim();
    // A window long enough that no bucket ages out during the test, and no budget to refuse with.
    const args = ['--db', db, '--upstream', upstream.url, '--provider', 'anthropic', '--window', '10m'];
    const [victim, survivor] = (await fleetOf(2, args)) as [StartedWorker, StartedWorker];
    const load = new Load([victim.url, survivor.url], 4);
    await load.answered(60);
    victim.worker.kill('SIGKILL');
    expect((await victim.worker).signal).toBe('SIGKILL');
    // The survivor keeps serving on the same rows (the victim's clients now only lose their connections).
    await load.served(40);
    await load.stop();
    expect([...load.answers.keys()].filter((key) => key !== '200' && key !== 'connection-lost')).toEqual([]);

    const { rows, bucketRequests } = await recorded(db);
    expect(bucketRequests).toBe(rows);
    expect(upstreamRequests(upstream)).toBeLessThanOrEqual(rows);
    expect(upstreamRequests(upstream)).toBeGreaterThanOrEqual(load.count('200'));
    // Nothing half written: a settled row has its outcome and status, an unsettled one neither.
    const [halves] = await query<{ count: string }>(
      db,
      "SELECT COUNT(*) AS count FROM requests WHERE (settled_at IS NULL) <> (outcome = 'in-flight')",
    );
    expect(Number(halves?.count)).toBe(0);
  });

  it('fails closed while the server restarts under load, then the same proxies serve again by themselves, nothing counted twice', async () => {
    // A server of this test's own: restarting the run's shared one would fail the other files.
    const server = await startPostgresServer();
    servers.push(server);
    const db = server.url;
    const upstream = await started.sim();
    const args = ['--db', db, '--upstream', upstream.url, '--provider', 'anthropic', '--window', '10m'];
    const proxies = await fleetOf(2, args);
    const load = new Load(
      proxies.map((proxy) => proxy.url),
      3,
    );
    const clients = proxies.length * 3;
    await load.answered(40);

    let forwardedWhileDown = 0;
    await server.restart(async () => {
      // Nothing listens now: every proxy answers 503 store-unavailable and forwards nothing.
      const before = upstreamRequests(upstream);
      for (const proxy of proxies) {
        const answer = await firstAnswerOtherThan(proxy.url, 200, 50);
        expect(answer.status).toBe(503);
        expect(answer.headers.get('x-ratewarden-reason')).toBe('store-unavailable');
      }
      const downtime = load.answered(30);
      await downtime;
      // Requests admitted before the server went away may still reach the upstream; new ones never.
      forwardedWhileDown = upstreamRequests(upstream) - before;
      expect(load.count('503 store-unavailable')).toBeGreaterThan(0);
    });
    // At most the requests in flight when it went away: one per client.
    expect(forwardedWhileDown).toBeLessThanOrEqual(clients);

    // The same processes, never restarted, reconnect by themselves.
    for (const proxy of proxies) {
      expect((await firstAnswerOtherThan(proxy.url, 503, 100)).status).toBe(200);
      expect(proxy.worker.exitCode).toBeNull();
    }
    await load.served(30);
    await load.stop();
    expect([...load.answers.keys()].filter((key) => key !== '200' && key !== '503 store-unavailable')).toEqual([]);

    const { rows, bucketRequests } = await recorded(db);
    expect(bucketRequests).toBe(rows);
    expect(upstreamRequests(upstream)).toBeLessThanOrEqual(rows);
  });

  it('keeps one clock: a proxy whose host clock is 10 minutes ahead still refuses inside a cooldown another host earned', async () => {
    const db = await freshDatabase();
    const upstream = await started.sim();
    const args = ['--db', db, '--upstream', upstream.url, '--provider', 'anthropic', '--backoff-base', '30s'];
    const onTime = await started.worker(dirs.make(), args);
    const ahead = await started.worker(dirs.make(), [...args, '--unsafe-clock-offset', '10m']);

    upstream.setMode('always-429');
    expect((await post(onTime.url)).status).toBe(429);
    upstream.setMode('normal');
    const until = await cooldownUntil(db);

    // By its own clock the cooldown ended 9.5 minutes ago; by the server's it has about 30 s to run.
    const fromAhead = await post(ahead.url);
    const fromOnTime = await post(onTime.url);
    for (const refused of [fromAhead, fromOnTime]) {
      expect(refused.status).toBe(429);
      expect(refused.headers.get('x-ratewarden-reason')).toBe('cooldown');
    }
    const aheadMs = Number(fromAhead.headers.get('retry-after-ms'));
    const onTimeMs = Number(fromOnTime.headers.get('retry-after-ms'));
    expect(aheadMs).toBeGreaterThan(0);
    expect(aheadMs).toBeLessThanOrEqual(30_000);
    // Asked one after the other: the later answer is the shorter, by no more than the time between them.
    expect(aheadMs - onTimeMs).toBeGreaterThanOrEqual(0);
    expect(aheadMs - onTimeMs).toBeLessThan(5_000);
    expect(Date.now()).toBeLessThan(until);
    expect(upstreamRequests(upstream)).toBe(1);
  });
});

describe('status across hosts', () => {
  it("shows every host's processes from their heartbeats, and judges another host's pids by heartbeat age only", async () => {
    const db = await freshDatabase();
    const upstream = await started.sim();
    const here = await started.worker(dirs.make(), ['--db', db, '--upstream', upstream.url, '--provider', 'anthropic']);
    const herePid = here.worker.pid as number;
    // Another host's heartbeats, written as that host's store writes them: one fresh whose pid
    // does not exist here, one stale whose pid is alive here (this test's own).
    const deadHere = 2 ** 22 + 17;
    const other = await openPostgresStore({ url: db, host: 'other-host' });
    try {
      await other.transact(async (tx) => {
        await tx.processes.beat(
          { role: 'worker', pid: deadHere, startedAt: tx.now - 60_000, listen: 'http://10.0.0.2:8787', upstream: upstream.url },
          tx.now,
        );
        await tx.processes.beat(
          { role: 'worker', pid: process.pid, startedAt: tx.now - 600_000, listen: 'http://10.0.0.2:8788', upstream: upstream.url },
          tx.now - 120_000,
        );
      });
    } finally {
      await other.close();
    }

    // The URL (with its password) through RATEWARDEN_DB, as docs/fleet.md says: on the command line it earns a warning on stderr.
    const json = await runCli(['status', '--json'], cliEnv(dirs.make(), { RATEWARDEN_DB: db }));
    expect(json.stderr).toBe('');
    expect(json.exitCode).toBe(0);
    const report = JSON.parse(json.stdout) as {
      host: string;
      worker: { pid: number; state: string };
      processes: { host: string; thisHost: boolean; role: string; pid: number; state: string; listen: string | null }[];
    };
    expect(report.worker).toMatchObject({ pid: herePid, state: 'running' });
    const byPid = (pid: number) => report.processes.find((entry) => entry.pid === pid);
    expect(report.processes).toHaveLength(3);
    expect(byPid(herePid)).toMatchObject({ host: report.host, thisHost: true, role: 'worker', state: 'running', listen: here.url });
    // A local pid check would call this one gone, and the next one not-responding.
    expect(byPid(deadHere)).toMatchObject({ host: 'other-host', thisHost: false, state: 'running', listen: 'http://10.0.0.2:8787' });
    expect(byPid(process.pid)).toMatchObject({ host: 'other-host', thisHost: false, state: 'silent' });

    const text = await runCli(['status'], cliEnv(dirs.make(), { RATEWARDEN_DB: db }));
    expect(text.exitCode).toBe(0);
    // Every host's workers, each line naming its host.
    expect(text.stdout).toMatch(new RegExp(`● running\\s+pid ${herePid} .* on ${report.host} \\(this host\\)`));
    expect(text.stdout).toMatch(new RegExp(`● running\\s+pid ${deadHere} · http://10\\.0\\.0\\.2:8787 .* on other-host`));
    expect(text.stdout).toMatch(new RegExp(`○ silent\\s+pid ${process.pid} on another host.* on other-host`));
    expect(text.stdout).not.toContain(new URL(db).password);
  });
});

describe('a server unreachable at start', () => {
  it('is exit 1 for a worker without a supervisor, in one line that names the server without its password', async () => {
    const home = dirs.make();
    const db = `postgres://fleet:never-shown@127.0.0.1:${await freeLoopbackPort()}/ratewarden`;
    const result = await runCli(
      ['run', '--no-supervise', '--listen', '127.0.0.1:0', '--db', db, '--upstream', 'http://127.0.0.1:9'],
      cliEnv(home),
    );
    expect(result.exitCode).toBe(1);
    // One line of error, after the warning that a password is on the command line (passwordOnCommandLine.ts).
    expect(
      result.stderr
        .trimEnd()
        .split('\n')
        .filter((line) => !line.startsWith('ratewarden: warning:')),
    ).toHaveLength(1);
    expect(result.stderr).toMatch(/database postgres:\/\/fleet:\*\*\*@127\.0\.0\.1:\d+\/ratewarden is unavailable: server unreachable/);
    expect(`${result.stdout}${result.stderr}`).not.toContain('never-shown');
  });

  it('is waited for by the supervisor on its restart ladder, the door answering 503 restarting, and its worker starts once the server is back', async () => {
    const server = await startPostgresServer();
    servers.push(server);
    const upstream = await started.sim();
    const url = `http://127.0.0.1:${await freeLoopbackPort()}`;
    let output = '';
    let supervisor: ResultPromise | null = null;
    await server.restart(async () => {
      requireBuild();
      supervisor = started.track(
        execa(
          binary,
          [
            'run',
            '--listen',
            new URL(url).host,
            '--db',
            server.url,
            '--upstream',
            upstream.url,
            '--provider',
            'anthropic',
            '--restart-sec',
            '200ms',
            '--restart-max-delay',
            '1s',
            '--restart-hold-connections',
            '0',
          ],
          {
            env: cliEnv(dirs.make()),
            extendEnv: false,
            reject: false,
            stdin: 'ignore',
          },
        ),
      );
      supervisor.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      // Its second try: the wait is the ladder's, not a crash and a start from scratch. No connection
      // is held for the next worker (--restart-hold-connections 0), so the door answers at once.
      while (!/trying again in[\s\S]*trying again in/.test(output)) {
        expect(supervisor.exitCode ?? null, output).toBeNull();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const answer = await post(url);
      expect(answer.status).toBe(503);
      expect(answer.headers.get('x-ratewarden-reason')).toBe('restarting');
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(upstreamRequests(upstream)).toBe(0);
    });
    expect((await firstAnswerOtherThan(url, 503, 200)).status).toBe(200);
    expect(output).not.toContain(new URL(server.url).password);
    expect((supervisor as ResultPromise | null)?.exitCode ?? null).toBeNull();
    // A PostgreSQL server stopped and started again, a reconnect and a worker's start: on a loaded
    // 2-core machine this took over a minute once; the bound is for a hang, not a speed.
  }, 180_000);
});
