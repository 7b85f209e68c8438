import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/core/statusReport.js';
import { openDatabase } from '../../src/store/sqlite/open.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { binary, cliEnv, prepareCooldown, queryRows, requireBuild, runCli } from './operatorCli.js';
import { StartedProcesses } from './startedProcesses.js';

const dirs = new ScratchDirs();
const started = new StartedProcesses();

afterEach(async () => {
  await started.stopAll();
  dirs.removeAll();
});

/** `ratewarden run` (supervisor and worker, real processes); resolves once the supervisor says the worker is ready. */
async function startRun(
  home: string,
  args: readonly string[],
): Promise<{ run: ResultPromise; url: string; workerPid: number; output: () => string }> {
  requireBuild();
  const run = execa(binary, ['run', '--listen', '127.0.0.1:0', ...args], {
    env: cliEnv(home),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
  });
  started.track(run);
  let output = '';
  const ready = new Promise<RegExpExecArray>((resolve, reject) => {
    const check = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /worker (\d+) ready at (http:\/\/\S+)/.exec(output);
      if (match) resolve(match);
    };
    run.stdout?.on('data', check);
    run.stderr?.on('data', check);
    void run.then(() => reject(new Error(`ratewarden run exited before its worker was ready:\n${output}`)));
  });
  const match = await ready;
  return { run, url: match[2] as string, workerPid: Number(match[1]), output: () => output };
}

async function statusJson(db: string, env: Record<string, string>): Promise<StatusReport> {
  const result = await runCli(['status', '--db', db, '--json'], env);
  expect(result.stderr).toBe('');
  expect(result.exitCode).toBe(0);
  return JSON.parse(result.stdout) as StatusReport;
}

const message = JSON.stringify({ model: 'claude-sim', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });

describe('status and calibrate show the policy the running proxy recorded, not their own defaults', () => {
  it('with run --window 10s --backoff-base 5s --start-limit-burst 3, status sums a 10 s window and says so', async () => {
    const home = dirs.make('ratewarden-policy-');
    const db = join(home, 'rw.db');
    const upstream = await started.sim();
    const flags = [
      '--db',
      db,
      '--upstream',
      upstream.url,
      '--provider',
      'anthropic',
      '--window',
      '10s',
      '--backoff-base',
      '5s',
      '--backoff-max',
      '20s',
      '--token-budget',
      '50000',
    ];
    const { run, url, workerPid } = await startRun(home, [...flags, '--start-limit-burst', '3', '--restart-sec', '2s']);
    for (let i = 0; i < 3; i++) {
      const answer = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: message });
      expect(answer.status).toBe(200);
      await answer.arrayBuffer();
    }
    // Usage 30 s old: inside status's default 1 min window, outside the proxy's 10 s one.
    const writer = openDatabase(db);
    try {
      writer
        .prepare("INSERT INTO usage_buckets (scope, start, input_tokens, output_tokens, requests) VALUES ('default', ?, 7000, 0, 7)")
        .run(Math.floor((Date.now() - 30_000) / 1_000) * 1_000);
    } finally {
      writer.close();
    }

    // No flags: everything comes from what the proxy recorded.
    const env = cliEnv(home);
    const report = await statusJson(db, env);
    expect(report.policy.worker).toMatchObject({
      source: 'running',
      pid: workerPid,
      values: { windowMs: 10_000, backoffBaseMs: 5_000, backoffMaxMs: 20_000, tokenBudget: 50_000 },
    });
    expect(report.policy.supervisor).toMatchObject({
      source: 'running',
      pid: run.pid,
      values: { startLimitBurst: 3, restartSecMs: 2_000 },
    });
    expect(report.window.lengthMs).toBe(10_000);
    expect(report.window.requestsUsed).toBe(3);
    expect(report.cooldown.nextCooldownMs).toBe(5_000);
    expect(report.supervisor.burstLimit).toBe(3);
    // No failure yet: the next one, the first in a row, restarts at once (restart-sec shows in the policy line below).
    expect(report.supervisor.nextRestartDelayMs).toBe(0);

    const human = await runCli(['status', '--db', db], env);
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toContain('last 10s, total tokens');
    expect(human.stdout).toContain('next cooldown 5s');
    expect(human.stdout).toContain('0 of 3 failures in the last 5m');
    expect(human.stdout).toMatch(
      new RegExp(
        `policy\\s+window 10s, total tokens · budget 50,000 tokens / — requests · backoff 5s→20s .*\\(the running worker's, pid ${workerPid}, recorded`,
      ),
    );
    expect(human.stdout).toMatch(/restarts\s+restart 2s→5m · burst 3 within 5m .*\(the running supervisor's/);

    const calibrate = await runCli(['calibrate', '--db', db, '--json'], env);
    expect(calibrate.exitCode).toBe(0);
    expect(JSON.parse(calibrate.stdout)).toMatchObject({ policy: { source: 'running', pid: workerPid, values: { windowMs: 10_000 } } });
    expect((await runCli(['calibrate', '--db', db], env)).stdout).toMatch(/policy\s+window 10s/);

    // Stopped: the last worker's policy still stands, and status says none runs.
    run.kill('SIGTERM');
    expect((await run).exitCode).toBe(0);
    const after = await statusJson(db, env);
    expect(after.policy.worker).toMatchObject({ source: 'last-recorded', pid: workerPid, values: { windowMs: 10_000 } });
    expect(after.window.lengthMs).toBe(10_000);
    expect(queryRows<{ role: string; pid: number }>(db, 'SELECT role, pid FROM process_policies ORDER BY role')).toEqual([
      { role: 'supervisor', pid: run.pid },
      { role: 'worker', pid: workerPid },
    ]);
  });

  it('a restarted worker replaces the policy of the one that stopped, and the table stays small', async () => {
    const home = dirs.make('ratewarden-policy-');
    const db = join(home, 'rw.db');
    const upstream = await started.sim();
    for (const window of ['10s', '20s']) {
      const { run } = await startRun(home, ['--db', db, '--upstream', upstream.url, '--window', window]);
      run.kill('SIGTERM');
      expect((await run).exitCode).toBe(0);
    }
    expect(queryRows<{ role: string }>(db, 'SELECT role FROM process_policies')).toHaveLength(2);
    expect((await statusJson(db, cliEnv(home))).policy.worker).toMatchObject({ source: 'last-recorded', values: { windowMs: 20_000 } });
  });

  it('says clearly when no policy was recorded, and falls back to its own settings', async () => {
    const home = dirs.make('ratewarden-policy-');
    const db = join(home, 'rw.db');
    // A database no worker of this version has run on: state, but no recorded policy.
    await prepareCooldown(db);
    const env = cliEnv(home);
    const report = await statusJson(db, env);
    expect(report.policy.worker).toMatchObject({ source: 'not-recorded', pid: null, writtenAt: null, values: { windowMs: 60_000 } });
    expect(report.policy.supervisor.source).toBe('not-recorded');
    const human = await runCli(['status', '--db', db, '--window', '2m'], env);
    expect(human.stdout).toMatch(
      /policy\s+window 2m, total tokens .*\(no running policy recorded: no worker has started on this database since ratewarden began recording it; showing this command's own settings\)/,
    );
    expect(human.stdout).toContain('last 2m');
  });
});
