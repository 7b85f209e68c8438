import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResultPromise } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/sqlite/open.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { cliEnv, runCli } from './operatorCli.js';
import { StartedProcesses } from './startedProcesses.js';

const dirs = new ScratchDirs();
const started = new StartedProcesses();

afterEach(async () => {
  await started.stopAll();
  dirs.removeAll();
});

function cooldownUntil(dbPath: string): number | null {
  const db = openDatabase(dbPath, { readonly: true });
  try {
    return (
      db.prepare('SELECT cooldown_until FROM limiter_state WHERE scope = (SELECT scope FROM requests ORDER BY id DESC LIMIT 1)').get() as {
        cooldown_until: number | null;
      }
    ).cooldown_until;
  } finally {
    db.close();
  }
}

const message = JSON.stringify({ model: 'claude-sim', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
const post = (url: string): Promise<Response> =>
  fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: message });

describe('ratewarden run --no-supervise', () => {
  it('remembers a cooldown across SIGKILL: the restarted worker still refuses and the upstream sees nothing', async () => {
    const home = dirs.make();
    const db = join(home, 'ratewarden.db');
    const upstream = await started.sim();
    const args = ['--db', db, '--upstream', upstream.url, '--provider', 'anthropic', '--backoff-base', '10s'];

    const first = await started.worker(home, args);
    upstream.setMode('always-429');
    expect((await post(first.url)).status).toBe(429);
    upstream.setMode('normal');
    const until = cooldownUntil(db) as number;
    expect(until).toBeGreaterThan(Date.now());

    first.worker.kill('SIGKILL');
    expect((await first.worker).signal).toBe('SIGKILL');

    // The test's premise: the second worker is up inside the cooldown. Starting a worker takes
    // well under a second; 10 s leaves room for a loaded machine.
    const second = await started.worker(home, args);
    expect(Date.now()).toBeLessThan(until);
    const refused = await post(second.url);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ratewarden-reason')).toBe('cooldown');
    expect(upstream.stats().requests).toBe(1);

    await sleep(until - Date.now() + 50);
    expect((await post(second.url)).status).toBe(200);
    const { arrivals } = upstream.stats();
    expect(arrivals).toHaveLength(2);
    expect(arrivals[1]).toBeGreaterThanOrEqual(until);
  });

  it('forwards to an HTTPS upstream over one kept-alive connection', async () => {
    const home = dirs.make();
    const fixtures = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
    let connections = 0;
    const upstream = createHttpsServer(
      { key: readFileSync(join(fixtures, 'upstream-key.pem')), cert: readFileSync(join(fixtures, 'upstream-cert.pem')) },
      (request, response) => {
        request.resume();
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ type: 'message', usage: { input_tokens: 3, output_tokens: 4 } }));
      },
    );
    upstream.on('secureConnection', () => {
      connections += 1;
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    try {
      const port = (upstream.address() as AddressInfo).port;
      const { url } = await started.worker(
        home,
        ['--db', join(home, 'rw.db'), '--upstream', `https://127.0.0.1:${port}`, '--provider', 'anthropic'],
        {
          env: { NODE_EXTRA_CA_CERTS: join(fixtures, 'upstream-cert.pem') },
        },
      );
      for (let index = 0; index < 3; index++) expect((await post(url)).status).toBe(200);
      expect(connections).toBe(1);
    } finally {
      upstream.closeAllConnections();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });

  it('reports ready over IPC, answers its health check, and exits 0 when its supervisor goes away', async () => {
    const home = dirs.make();
    const upstream = await started.sim();
    const { worker, url } = await started.worker(home, ['--db', join(home, 'rw.db'), '--upstream', upstream.url], { ipc: true });
    const ready = await (worker as ResultPromise<{ ipc: true }>).getOneMessage();
    expect(ready).toMatchObject({ type: 'ready', url, pid: worker.pid });
    const health = await fetch(`${url}/_ratewarden/health`);
    expect(await health.json()).toMatchObject({ status: 'ok', pid: worker.pid });
    worker.disconnect();
    const result = await worker;
    expect(result.exitCode).toBe(0);
    await expect(fetch(`${url}/_ratewarden/health`)).rejects.toThrow();
  });

  it('stops gracefully on SIGTERM with exit 0, logging JSON lines without secrets', async () => {
    const home = dirs.make();
    const upstream = await started.sim();
    const { worker, url, output } = await started.worker(home, [
      '--db',
      join(home, 'rw.db'),
      '--upstream',
      upstream.url,
      '--provider',
      'anthropic',
      '--log-format',
      'json',
    ]);
    await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk-ant-never-logged', authorization: 'Bearer sk-never-logged' },
      body: message,
    });
    worker.kill('SIGTERM');
    expect((await worker).exitCode).toBe(0);
    const lines = output().trim().split('\n');
    const events = lines.map((line) => (JSON.parse(line) as { event: string }).event);
    expect(events[0]).toBe('start');
    expect(events).toContain('stopped');
    expect(output()).not.toContain('never-logged');
  });

  it('refuses a non-loopback address without --allow-remote (exit 2), and a missing upstream (exit 2)', async () => {
    const home = dirs.make();
    const remote = await runCli(
      ['run', '--no-supervise', '--upstream', 'http://127.0.0.1:9', '--listen', '0.0.0.0:0', '--db', join(home, 'rw.db')],
      cliEnv(home),
    );
    expect(remote.exitCode).toBe(2);
    expect(remote.stderr.trim().split('\n')).toHaveLength(1);
    expect(remote.stderr).toMatch(/--allow-remote/);
    const noUpstream = await runCli(['run', '--no-supervise', '--listen', '127.0.0.1:0', '--db', join(home, 'rw.db')], cliEnv(home));
    expect(noUpstream.exitCode).toBe(2);
    expect(noUpstream.stderr).toMatch(/--upstream/);
  });

  it('refuses a file that is not a database with exit 3, leaving it untouched', async () => {
    const home = dirs.make();
    const notADatabase = join(home, 'notes.db');
    const notes = 'these are my notes, not a database'.repeat(100);
    writeFileSync(notADatabase, notes);
    const result = await runCli(
      ['run', '--no-supervise', '--upstream', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0', '--db', notADatabase],
      cliEnv(home),
    );
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/not a SQLite database/);
    expect(readFileSync(notADatabase, 'utf8')).toBe(notes);
  });
});
