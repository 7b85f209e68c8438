import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/sqlite/open.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { cliEnv, runCli } from './operatorCli.js';
import { StartedProcesses } from './startedProcesses.js';

const dirs = new ScratchDirs();
const started = new StartedProcesses();

afterEach(() => started.stopAll());
afterAll(() => dirs.removeAll());

const message = JSON.stringify({ model: 'claude-sim', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
const post = (url: string): Promise<Response> =>
  fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: message });

function expectOneLine(stderr: string, ...parts: (string | RegExp)[]): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  for (const part of parts) expect(lines[0]).toMatch(part);
}

/** A real database whose quick_check reports about a hundred problems (one multi-line text). */
function badlyCorruptDatabase(dir: string): string {
  const path = join(dir, 'ratewarden.db');
  const db = openDatabase(path);
  const insert = db.prepare("INSERT INTO audit_log (at, action, actor, detail) VALUES (?, 'test', 'fixture', ?)");
  db.transaction(() => {
    for (let i = 0; i < 4_000; i++) insert.run(i, JSON.stringify({ filler: 'x'.repeat(60 + (i % 50)), i }));
  }).immediate();
  db.close();
  const bytes = readFileSync(path);
  const pageSize = bytes.readUInt16BE(16);
  // Past the tables' root pages (which would make SQLite refuse the file outright): leaf pages only.
  for (let offset = 40 * pageSize; offset < bytes.length; offset += 1_500) bytes[offset] = 0xa5;
  writeFileSync(path, bytes);
  return path;
}

describe('the database deleted while the proxy runs, then a restart (issue 9 item 1)', () => {
  it('503 with the reason while running; the restart refuses with one line and exit 3; new-db starts anew on purpose', async () => {
    const home = dirs.make();
    const db = join(home, 'ratewarden.db');
    const upstream = await started.sim();
    const args = ['--db', db, '--upstream', upstream.url, '--provider', 'anthropic'];
    const first = await started.worker(home, args);
    upstream.setMode('always-429');
    expect((await post(first.url)).status).toBe(429);
    upstream.setMode('normal');

    for (const path of [db, `${db}-wal`, `${db}-shm`]) rmSync(path, { force: true });
    const health = await fetch(`${first.url}/_ratewarden/health`);
    expect(health.status).toBe(503);
    expect(JSON.stringify(await health.json())).toContain('was deleted while the proxy had it open');
    expect((await post(first.url)).status).toBe(503);
    first.worker.kill('SIGTERM');
    expect((await first.worker).exitCode).toBe(0);
    expect(upstream.stats().requests).toBe(1);
    expect(existsSync(db)).toBe(false);

    const restart = await runCli(['run', '--no-supervise', '--listen', '127.0.0.1:0', ...args], cliEnv(home));
    expect(restart.exitCode).toBe(3);
    expectOneLine(restart.stderr, db, /is gone/, new RegExp(`ratewarden new-db --db ${db}`));
    expect(existsSync(db)).toBe(false);
    const supervised = await runCli(['run', '--listen', '127.0.0.1:0', ...args], cliEnv(home));
    expect(supervised.exitCode).toBe(3);
    expectOneLine(supervised.stderr, db, /is gone/);

    const fresh = await runCli(['new-db', '--db', db], cliEnv(home));
    expect(fresh.exitCode).toBe(0);
    expect(fresh.stdout).toMatch(/created a new, empty database [0-9a-f]{32}/);
    const second = await started.worker(home, args);
    expect((await post(second.url)).status).toBe(200);
  });

  it('a first-ever start on a path where nothing ever lived just works', async () => {
    const home = dirs.make();
    const db = join(home, 'state', 'nested', 'ratewarden.db');
    const upstream = await started.sim();
    const { url } = await started.worker(home, ['--db', db, '--upstream', upstream.url, '--provider', 'anthropic']);
    expect((await post(url)).status).toBe(200);
    expect(existsSync(`${db}.identity`)).toBe(true);
  });
});

describe('a corrupt database at start (issue 9 item 11)', () => {
  it('run and status: one line (what, where, what to do), exit 3, not the whole integrity report', async () => {
    const home = dirs.make();
    const db = badlyCorruptDatabase(home);
    const upstream = await started.sim();
    const run = await runCli(['run', '--no-supervise', '--listen', '127.0.0.1:0', '--db', db, '--upstream', upstream.url], cliEnv(home));
    expect(run.exitCode).toBe(3);
    expectOneLine(run.stderr, db, /is corrupt \(integrity check: .+, and \d+ more problems\)/, /left untouched/, /restore a backup/);
    const status = await runCli(['status', '--db', db], cliEnv(home));
    expect(status.exitCode).toBe(3);
    expectOneLine(status.stderr, db, /is corrupt/);
  });
});

/*
 * A real read-only file system: a tmpfs mounted here and remounted read-only. chmod would not
 * do, since these tests run as root, whom permissions do not stop. Mounting needs root (or
 * CAP_SYS_ADMIN), which the test machine and CI have.
 */
describe('a read-only file system (issue 9 item 12)', () => {
  let mountPoint = '';
  const remount = (mode: 'ro' | 'rw'): void => {
    execFileSync('mount', ['-o', `remount,${mode}`, mountPoint]);
  };

  beforeAll(() => {
    mountPoint = join(dirs.make('ratewarden-ro-'), 'mnt');
    mkdirSync(mountPoint);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', mountPoint]);
  });
  afterAll(() => {
    if (mountPoint !== '') execFileSync('umount', [mountPoint]);
  });
  afterEach(() => {
    remount('rw');
    rmSync(join(mountPoint, 'state'), { recursive: true, force: true });
  });

  async function proxyThenStop(home: string, db: string, stop: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const upstream = await started.sim();
    const { worker, url } = await started.worker(home, ['--db', db, '--upstream', upstream.url, '--provider', 'anthropic']);
    expect((await post(url)).status).toBe(200);
    worker.kill(stop);
    await worker;
  }

  for (const stop of ['SIGTERM', 'SIGKILL'] as const) {
    it(`after a ${stop === 'SIGTERM' ? 'clean stop' : 'kill -9 (-wal and -shm left)'}: run exits 3 naming the file; status still reads it`, async () => {
      const home = dirs.make();
      const db = join(mountPoint, 'state', 'ratewarden.db');
      await proxyThenStop(home, db, stop);
      expect(existsSync(`${db}-wal`)).toBe(stop === 'SIGKILL');
      remount('ro');

      const upstream = await started.sim();
      const run = await runCli(['run', '--no-supervise', '--listen', '127.0.0.1:0', '--db', db, '--upstream', upstream.url], cliEnv(home));
      expect(run.exitCode).toBe(3);
      expectOneLine(run.stderr, db, /read-only file system/);

      const status = await runCli(['status', '--db', db, '--json'], cliEnv(home));
      expect(status.stderr).toBe('');
      expect(status.exitCode).toBe(0);
      const report = JSON.parse(status.stdout) as { window: { requestsUsed: number } };
      expect(report.window.requestsUsed).toBe(1);
    });
  }

  it('a missing database on a read-only file system: exit 3 naming the file', async () => {
    const home = dirs.make();
    const db = join(mountPoint, 'ratewarden.db');
    remount('ro');
    const upstream = await started.sim();
    const run = await runCli(['run', '--no-supervise', '--listen', '127.0.0.1:0', '--db', db, '--upstream', upstream.url], cliEnv(home));
    expect(run.exitCode).toBe(3);
    expectOneLine(run.stderr, db, /read-only file system/);
  });
});
