import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { heldFilePathFor, heldFilesOf, readHeldFile } from '../../src/store/held429File.js';
import { openDatabase } from '../../src/store/sqlite/open.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { cliEnv, queryRows, runCli } from './operatorCli.js';
import { StartedProcesses } from './startedProcesses.js';

/** Issue 26 item 2 through the built CLI: the held-429 file at start, and two proxies on one SQLite file. */
const dirs = new ScratchDirs();
const started = new StartedProcesses();
const servers: Server[] = [];
afterEach(async () => {
  await started.stopAll();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  dirs.removeAll();
});

const message = JSON.stringify({ model: 'claude-sim', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
const post = (url: string): Promise<Response> =>
  fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'sk-held' }, body: message });

async function startWith(held: (dbPath: string) => void): Promise<{ exitCode: number; stderr: string }> {
  const home = dirs.make('ratewarden-heldfile-');
  const db = join(home, 'ratewarden.db');
  held(heldFilePathFor(db));
  return runCli(['run', '--no-supervise', '--listen', '127.0.0.1:0', '--db', db, '--upstream', 'http://127.0.0.1:9'], cliEnv(home));
}

describe('a held-429 file that cannot be read stops the start (exit 3, one line)', () => {
  it('a damaged file', async () => {
    const result = await startWith((file) => writeFileSync(file, '{"held": [{"requestId": 3,'));
    expect(result.exitCode).toBe(3);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/held-429s, the upstream 429s a previous run could not record, cannot be read: .*repair or remove it/);
  });

  it('a FIFO: refused without blocking on it', async () => {
    const result = await startWith((file) => execFileSync('mkfifo', [file]));
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/not a regular file/);
  });

  it('a link to /dev/zero: refused without reading it', async () => {
    const result = await startWith((file) => symlinkSync('/dev/zero', `${file}.123`));
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/symbolic link/);
  });
});

describe('two proxies on one SQLite file each keep the 429s they hold (issue 26 item 2)', () => {
  it('both files survive a stop while the database is locked, and the next start records both 429s', async () => {
    // An upstream that answers 429 to each request once two have arrived and the test says so.
    let arrived = 0;
    let bothArrived: () => void = () => undefined;
    const both = new Promise<void>((resolve) => (bothArrived = resolve));
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const upstream = createServer((request, response) => {
      request.resume();
      arrived += 1;
      if (arrived === 2) bothArrived();
      void released.then(() => {
        response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '60' });
        response.end('{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}');
      });
    });
    servers.push(upstream);
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

    const home = dirs.make('ratewarden-twoheld-');
    const db = join(home, 'ratewarden.db');
    const args = ['--db', db, '--upstream', upstreamUrl, '--provider', 'anthropic'];
    const [first, second] = await Promise.all([started.worker(home, args), started.worker(home, args)]);
    const answers = [post(first!.url), post(second!.url)];
    await both;
    const locker = openDatabase(db);
    try {
      locker.exec('BEGIN IMMEDIATE');
      release();
      for (const answer of await Promise.all(answers)) expect(answer.status).toBe(429);
      const stops = [first!, second!].map(async (proxy) => {
        // Both have held theirs once their next request is refused locally.
        expect((await post(proxy.url)).headers.get('x-ratewarden-reason')).toBe('cooldown');
        // Not through execa's kill, which cuts a stop off after 5 s: this one waits out the locked database's busy timeouts.
        process.kill(proxy.worker.pid!, 'SIGTERM');
        expect((await proxy.worker).exitCode).toBe(0);
        expect(proxy.output()).toMatch(/upstream-429-held-over|could not be recorded before the stop; they are kept in/);
      });
      await Promise.all(stops);
      const files = heldFilesOf(heldFilePathFor(db));
      expect(files).toHaveLength(2);
      expect(files.flatMap((file) => readHeldFile(file))).toHaveLength(2);
      locker.exec('ROLLBACK');
    } finally {
      locker.close();
    }

    const third = await started.worker(home, args);
    expect((await post(third.url)).headers.get('x-ratewarden-reason')).toBe('cooldown');
    expect(queryRows(db, 'SELECT * FROM rate_limit_events')).toHaveLength(2);
    expect(heldFilesOf(heldFilePathFor(db))).toHaveLength(0);
    expect(arrived).toBe(2);
  });
});
