import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/core/statusReport.js';
import { restartPolicyFrom } from '../../src/config/policy.js';
import { loadConfig } from '../../src/config/load.js';
import { openStore } from '../../src/store/openStore.js';
import { Heartbeat } from '../../src/warden/heartbeat.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { ansiEscape, binary, cliEnv, fileDigest, prepareCooldown, queryRows, runCli } from './operatorCli.js';
import { openSqliteLedger } from '../helpers/sqliteWarden.js';

const dirs = new ScratchDirs();
afterEach(() => dirs.removeAll());

function setUp(): { home: string; db: string; env: Record<string, string> } {
  const home = dirs.make('ratewarden-status-');
  return { home, db: join(home, 'rw.db'), env: cliEnv(home) };
}

async function statusJson(db: string, env: Record<string, string>, extra: string[] = []): Promise<StatusReport> {
  const result = await runCli(['status', '--db', db, '--json', ...extra], env);
  expect(result.stderr).toBe('');
  expect(result.exitCode).toBe(0);
  return JSON.parse(result.stdout) as StatusReport;
}

describe('ratewarden status', () => {
  it('reports an active cooldown, the window against the budget and calibration, as JSON', async () => {
    const { db, env } = setUp();
    await prepareCooldown(db, 45_000);
    const report = await statusJson(db, env);

    expect(report.cooldown.active).toBe(true);
    expect(report.cooldown.phase).toBe('cooling');
    expect(report.cooldown.remainingMs).toBeGreaterThan(0);
    expect(report.cooldown.remainingMs).toBeLessThanOrEqual(45_000);
    expect(report.cooldown.backoffLevel).toBe(1);
    // A probe refused again doubles the 45 s cooldown in force.
    expect(report.cooldown.nextCooldownMs).toBe(90_000);
    expect(report.consecutive429s).toBe(1);
    expect(report.window.tokensUsed).toBe(3 * 2_400);
    expect(report.window.requestsUsed).toBe(4);
    // The 429 cut the configured 40,000 / 50 to 0.7 × what the window held.
    expect(report.budget.tokens).toBe(Math.floor(7_200 * 0.7));
    expect(report.budget.cuts.tokens).toMatchObject({
      budget: Math.floor(7_200 * 0.7),
      knownGood: 40_000,
      cut: { reason: 'cut', to: Math.floor(7_200 * 0.7) },
    });
    expect(report.budget.requests).toBe(2);
    expect(report.budget.configuredTokens).toBe(40_000);
    expect(report.controller.lastAdjustmentByKind.tokens?.reason).toBe('cut');
    expect(report.controller.gates.tokens.quiet.open).toBe(false);
    expect(report.controller.gates.tokens.allOpen).toBe(false);
    expect(report.calibration.samples).toBe(2);
    expect(report.calibration.zeroTokenSamples).toBe(0);
    expect(report.calibration.estimate.basis).toBe('upstream-429');
    expect(report.recent429s).toHaveLength(1);
    expect(report.recent429s[0]?.retryAfterMs).toBe(45_000);
    expect(report.supervisor.failuresInInterval).toBe(0);
    expect(report.supervisor.gaveUp).toBe(false);
    expect(report.worker.running).toBe(false);
    expect(report.worker.state).toBe('stopped');
    expect(report.probe.halfOpen).toBe(false);
  });

  it('shows the same state to a person, with bars and without colour when stdout is not a terminal', async () => {
    const { db, env } = setUp();
    await prepareCooldown(db, 45_000);
    const result = await runCli(['status', '--db', db], env);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/COOLING\s+\d+(\.\d)?s left/);
    expect(result.stdout).toContain('level 1 · 1 consecutive 429 · next cooldown 1m');
    expect(result.stdout).toMatch(/tokens\s+█+░*\s+7,200 \/ 5,040/);
    expect(result.stdout).toContain('✗ closed quiet');
    expect(result.stdout).toContain('basis upstream-429');
    expect(result.stdout).toContain('0 of 5 failures in the last 5m');
    expect(result.stdout).toMatch(/worker\s+○ stopped/);
    expect(result.stdout).not.toMatch(ansiEscape);
  });

  it('colours only when asked: FORCE_COLOR turns colours on, NO_COLOR wins over it', async () => {
    const { home, db } = setUp();
    await prepareCooldown(db);
    const forced = await runCli(['status', '--db', db], cliEnv(home, { FORCE_COLOR: '1' }));
    expect(forced.stdout).toMatch(ansiEscape);
    const refused = await runCli(['status', '--db', db], cliEnv(home, { FORCE_COLOR: '1', NO_COLOR: '1' }));
    expect(refused.stdout).not.toMatch(ansiEscape);
  });

  it('tells a running worker by its heartbeat and pid from one that is gone', async () => {
    const { db, env } = setUp();
    await prepareCooldown(db);
    // This test process stands in for a live worker; pid 2^22+1 cannot exist on Linux, and its
    // heartbeat is written by a store whose time is 30 s behind.
    const store = await openStore({ db, clock: Date.now });
    const staleStore = await openStore({ db, clock: () => Date.now() - 30_000 });
    try {
      await new Heartbeat(store, {
        role: 'worker',
        pid: process.pid,
        startedAt: Date.now() - 5_000,
        listen: 'http://127.0.0.1:9',
        upstream: 'http://127.0.0.1:10',
      }).beat();
      await new Heartbeat(staleStore, {
        role: 'supervisor',
        pid: 4_194_305,
        startedAt: Date.now() - 60_000,
        listen: null,
        upstream: null,
      }).beat();
    } finally {
      await store.close();
      await staleStore.close();
    }
    const report = await statusJson(db, env);
    expect(report.worker).toMatchObject({ running: true, state: 'running', pid: process.pid, listen: 'http://127.0.0.1:9' });
    expect(report.upstream).toEqual({ url: 'http://127.0.0.1:10', from: 'worker' });
    expect(report.supervisor).toMatchObject({ running: false, state: 'gone', pid: 4_194_305 });
  });

  it('shows the supervisor history: failures in the interval and a give-up', async () => {
    const { home, db, env } = setUp();
    await prepareCooldown(db);
    const policy = restartPolicyFrom(loadConfig({ flags: {}, env: { XDG_CONFIG_HOME: join(home, 'config') } }).settings);
    const ledger = await openSqliteLedger(db, { policy, clock: Date.now, pid: 4_194_305 });
    try {
      await ledger.supervisorStarted('test');
      for (let i = 0; i < policy.startLimitBurst; i++)
        await ledger.workerFailed(4_194_306 + i, { kind: 'exit-code', exitCode: 1 }, 'exit code 1');
    } finally {
      await ledger.close();
    }
    const report = await statusJson(db, env);
    expect(report.supervisor.failuresInInterval).toBe(5);
    expect(report.supervisor.burstLimit).toBe(5);
    expect(report.supervisor.gaveUp).toBe(true);
    expect(report.supervisor.lastExit).toMatchObject({ failed: true, exitCode: 1, cause: 'exit-code' });

    const human = await runCli(['status', '--db', db], env);
    expect(human.stdout).toContain('5 of 5 failures in the last 5m');
    expect(human.stdout).toContain('ratewarden reset-restarts');
    // The burst limit is the configuration's: a larger one changes the verdict's arithmetic, not the history.
    expect((await statusJson(db, env, ['--start-limit-burst', '8'])).supervisor.burstLimit).toBe(8);
  });

  it('never writes the database', async () => {
    const { db, env } = setUp();
    await prepareCooldown(db);
    const before = fileDigest(db);
    await statusJson(db, env);
    expect((await runCli(['status', '--db', db], env)).exitCode).toBe(0);
    expect(fileDigest(db)).toBe(before);
    expect(queryRows<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM audit_log')[0]?.n).toBe(0);
  });

  it('refuses a missing database with its path and how to start the proxy, exit 3, creating nothing', async () => {
    const { home, env } = setUp();
    const missing = join(home, 'nowhere', 'rw.db');
    const result = await runCli(['status', '--db', missing], env);
    expect(result.exitCode).toBe(3);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(missing);
    expect(result.stderr).toContain('ratewarden run');
    expect(existsSync(join(home, 'nowhere'))).toBe(false);
    // The default location is not created either.
    const byDefault = await runCli(['status'], env);
    expect(byDefault.exitCode).toBe(3);
    expect(byDefault.stderr).toContain(join(home, 'state', 'ratewarden', 'ratewarden.db'));
    expect(readdirSync(home)).toEqual([]);
  });

  it('--watch prints a fresh report every interval until interrupted, then exits 0', async () => {
    const { db, env } = setUp();
    await prepareCooldown(db);
    const watcher = execa(binary, ['status', '--db', db, '--json', '--watch', '200ms'], {
      env,
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
    let output = '';
    try {
      await new Promise<void>((resolve, reject) => {
        watcher.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.split('\n').length > 3) resolve();
        });
        watcher.once('exit', () => reject(new Error(`status --watch exited early: ${output}`)));
      });
    } finally {
      watcher.kill('SIGINT');
    }
    const result = await watcher;
    expect(result.exitCode).toBe(0);
    const lines = output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as StatusReport);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.every((report) => report.cooldown.active)).toBe(true);
    const [first, , third] = lines;
    expect(third?.generatedAt).toBeGreaterThan(first?.generatedAt ?? Infinity);
  });

  it('refuses a malformed --watch interval with exit 2', async () => {
    const { db, env } = setUp();
    await prepareCooldown(db);
    const result = await runCli(['status', '--db', db, '--watch', 'soon'], env);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--watch: "soon" is not a duration');
  });

  it('has --help with examples and --version', async () => {
    const { env } = setUp();
    const help = await runCli(['status', '--help'], env);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('Examples:');
    expect(help.stdout).toContain('--db <path|url>');
    expect(help.stdout).toContain('--config <path>');
    const version = await runCli(['status', '--version'], env);
    expect(version.exitCode).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
