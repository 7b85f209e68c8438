import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/core/statusReport.js';
import { startSimUpstream, type SimUpstream } from '../../src/sim/upstream.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { binary, cliEnv, openWarden, preparedPolicy, prepareCooldown, queryRows, requireBuild, runCli } from './operatorCli.js';
import { openSqliteWarden } from '../helpers/sqliteWarden.js';

const dirs = new ScratchDirs();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  dirs.removeAll();
});

function setUp(): { db: string; env: Record<string, string> } {
  const home = dirs.make('ratewarden-reset-');
  return { db: join(home, 'rw.db'), env: cliEnv(home) };
}

interface ResetJson {
  actor: string;
  reason: string | null;
  cooldownRemainingMs: number;
  consecutive429s: number;
  backoffLevel: number;
  probePending: boolean;
  halfOpen: boolean;
  anything: boolean;
}

const stateRow = (db: string) =>
  queryRows<{ consecutive_429s: number; backoff_level: number; cooldown_until: number | null; probe_request_id: number | null }>(
    db,
    'SELECT consecutive_429s, backoff_level, cooldown_until, probe_request_id FROM limiter_state',
  )[0];

describe('ratewarden reset-cooldown', () => {
  it('clears an active cooldown, the 429 count and the backoff level, and records who and why', async () => {
    const { db, env } = setUp();
    await prepareCooldown(db, 45_000);
    const result = await runCli(['reset-cooldown', '--db', db, '--reason', 'upstream raised our tier'], env);
    expect(result.exitCode).toBe(0);
    // The 429 also cut the configured 40,000 / 50 to 0.7 × what the window held: cleared back to them.
    expect(result.stdout).toMatch(
      /^Cleared the cooldown \(\d+(\.\d)?s were left\), 1 consecutive 429, backoff level 1, the tokens budget cut \(5,040 → 40,000, known-good\), the requests budget cut \(2 → 50, known-good\)\./,
    );
    expect(stateRow(db)).toEqual({ consecutive_429s: 0, backoff_level: 0, cooldown_until: null, probe_request_id: null });
    const audit = queryRows<{ action: string; actor: string; reason: string; at: number }>(
      db,
      'SELECT action, actor, reason, at FROM audit_log',
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'reset-cooldown', reason: 'upstream raised our tier' });
    expect(audit[0]?.actor).toMatch(/^.+@.+ \(pid \d+\)$/);
    expect(Math.abs((audit[0]?.at ?? 0) - Date.now())).toBeLessThan(60_000);

    const status = JSON.parse((await runCli(['status', '--db', db, '--json'], env)).stdout) as StatusReport;
    expect(status.cooldown.active).toBe(false);
    expect(status.consecutive429s).toBe(0);
    expect(status.lastOperatorAction).toMatchObject({ action: 'reset-cooldown', reason: 'upstream raised our tier' });
    expect(status.budget).toMatchObject({ tokens: 40_000, requests: 50, cuts: { tokens: null, requests: null } });
  });

  it('says so when nothing was in force, exit 0, as text and as JSON', async () => {
    const { db, env } = setUp();
    await (await openWarden(db)).close();
    const human = await runCli(['reset-cooldown', '--db', db], env);
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toMatch(/^Nothing was in force/);
    const json = JSON.parse((await runCli(['reset-cooldown', '--db', db, '--json'], env)).stdout) as ResetJson;
    expect(json).toMatchObject({
      anything: false,
      cooldownRemainingMs: 0,
      consecutive429s: 0,
      backoffLevel: 0,
      probePending: false,
      reason: null,
    });
  });

  it('clears a pending half-open probe', async () => {
    const { db, env } = setUp();
    // The 429 happened two minutes ago (out of the window), its 30 s cooldown is over, and one probe went out just now.
    let now = Date.now() - 120_000;
    const warden = await openSqliteWarden(db, { policy: preparedPolicy, clock: () => now });
    try {
      const first = await warden.admit({ method: 'POST', path: '/v1/messages', estimate: { inputTokens: 10, outputTokens: 10 } });
      if (first.kind !== 'admitted') throw new Error(`first request refused: ${first.message}`);
      await warden.upstream429(first.requestId, { retryAfterMs: null });
      now = Date.now();
      const probe = await warden.admit({ method: 'POST', path: '/v1/messages', estimate: { inputTokens: 10, outputTokens: 10 } });
      expect(probe.kind === 'admitted' && probe.probe).toBe(true);
    } finally {
      await warden.close();
    }
    const before = JSON.parse((await runCli(['status', '--db', db, '--json'], env)).stdout) as StatusReport;
    expect(before.probe).toMatchObject({ halfOpen: true, inFlight: true });

    const json = JSON.parse((await runCli(['reset-cooldown', '--db', db, '--json'], env)).stdout) as ResetJson;
    expect(json).toMatchObject({
      anything: true,
      probePending: true,
      halfOpen: true,
      cooldownRemainingMs: 0,
      consecutive429s: 1,
      backoffLevel: 1,
    });
    expect(stateRow(db)).toEqual({ consecutive_429s: 0, backoff_level: 0, cooldown_until: null, probe_request_id: null });
  });

  it('refuses a missing database with exit 3 and creates nothing', async () => {
    const { db, env } = setUp();
    const result = await runCli(['reset-cooldown', '--db', db], env);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain(db);
    expect(existsSync(db)).toBe(false);
  });

  it('a running proxy obeys at its next request, without a restart', async () => {
    const { db, env } = setUp();
    // Its 429s say nothing of when to retry (no retry-after, headers with room): the ladder's 1 minute applies.
    const upstream = await startSimUpstream({ tokenLimit: 1_000_000, retryAfterMode: 'none' });
    cleanups.push(() => upstream.close());
    upstream.setMode('always-429');
    const worker = await startWorker(db, upstream, env);
    cleanups.push(() => worker.stop());

    const first = await ask(worker.url);
    expect(first.status).toBe(429);
    expect(first.reason).toBeNull();
    expect(upstream.stats().requests).toBe(1);

    // The cooldown (1 minute) is in force: answered locally, the upstream sees nothing.
    const refused = await ask(worker.url);
    expect(refused.status).toBe(429);
    expect(refused.reason).toBe('cooldown');
    expect(upstream.stats().requests).toBe(1);

    // status reads the live database alongside the running worker.
    const status = JSON.parse((await runCli(['status', '--db', db, '--json'], env)).stdout) as StatusReport;
    expect(status.worker).toMatchObject({ running: true, pid: worker.process.pid, listen: worker.url });
    expect(status.upstream).toEqual({ url: upstream.url, from: 'worker' });
    expect(status.cooldown.active).toBe(true);
    expect(status.cooldown.remainingMs).toBeGreaterThan(50_000);

    upstream.setMode('normal');
    const reset = await runCli(['reset-cooldown', '--db', db, '--reason', 'e2e'], env);
    expect(reset.exitCode).toBe(0);
    expect(reset.stdout).toMatch(/^Cleared the cooldown/);

    const forwarded = await ask(worker.url);
    expect(forwarded.status).toBe(200);
    expect(forwarded.reason).toBeNull();
    expect(upstream.stats().requests).toBe(2);
    // The same worker, never restarted.
    expect(worker.process.exitCode).toBeNull();
    expect(await healthPid(worker.url)).toBe(worker.process.pid);

    // Pruning is as safe as the reset while the proxy serves.
    expect((await runCli(['calibrate', '--db', db, '--prune-zero'], env)).exitCode).toBe(0);
    expect((await ask(worker.url)).status).toBe(200);
  });
});

interface RunningWorker {
  url: string;
  process: ResultPromise;
  stop(): Promise<void>;
}

/** `ratewarden run --no-supervise`, as a user starts it; resolves once it logs where it listens. */
async function startWorker(db: string, upstream: SimUpstream, env: Record<string, string>): Promise<RunningWorker> {
  requireBuild();
  const child = execa(
    binary,
    [
      'run',
      '--no-supervise',
      '--db',
      db,
      '--upstream',
      upstream.url,
      '--provider',
      'anthropic',
      '--listen',
      '127.0.0.1:0',
      '--log-format',
      'json',
      '--backoff-base',
      '1m',
      '--backoff-max',
      '1m',
    ],
    { env, extendEnv: false, reject: false, stdin: 'ignore' },
  );
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM');
    await child;
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let seen = '';
      child.stdout.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        for (const line of seen.split('\n')) {
          if (!line.startsWith('{')) continue;
          const entry = JSON.parse(line) as { event?: string; url?: string };
          if (entry.event === 'start' && entry.url !== undefined) resolve(entry.url);
        }
      });
      child.once('exit', (code) => reject(new Error(`the worker exited with ${code} before listening: ${seen}`)));
    });
    return { url, process: child, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function ask(url: string): Promise<{ status: number; reason: string | null }> {
  const response = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] }),
  });
  await response.arrayBuffer();
  return { status: response.status, reason: response.headers.get('x-ratewarden-reason') };
}

async function healthPid(url: string): Promise<number> {
  const response = await fetch(`${url}/_ratewarden/health`);
  return ((await response.json()) as { pid: number }).pid;
}
