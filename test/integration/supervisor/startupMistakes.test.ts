// Issue 9 item 9: a configuration mistake under the supervisor is exit 2 at once, never a crash loop.
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { exitCodes } from '../../../src/kernel/exitCodes.js';
import { useSupervisorFixtures } from '../../helpers/supervisorHarness.js';

const fixture = useSupervisorFixtures();
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

function ratewardenLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.trim() !== '');
}

describe('mistakes found before the first worker starts', () => {
  it('a missing --upstream: exit 2 at once with one line, no worker started, no database written', async () => {
    const f = fixture();
    const run = f.ratewarden(['run', '--db', f.dbPath, '--listen', '127.0.0.1:0']);
    expect(await run.exit()).toEqual({ exitCode: exitCodes.usage, signal: undefined });
    expect(ratewardenLines(run.stderr)).toEqual([
      'ratewarden: upstream: not set; pass --upstream https://api.anthropic.com (or set RATEWARDEN_UPSTREAM, or "upstream" in the config file)',
    ]);
    expect(run.stdout).toBe('');
    expect(existsSync(f.dbPath)).toBe(false);
  });

  it('a non-loopback --listen without --allow-remote: exit 2 at once with one line', async () => {
    const f = fixture();
    const run = f.ratewarden(['run', '--db', f.dbPath, '--upstream', 'http://127.0.0.1:9', '--listen', '0.0.0.0:0']);
    expect(await run.exit()).toEqual({ exitCode: exitCodes.usage, signal: undefined });
    expect(ratewardenLines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toMatch(/^ratewarden: listen: 0\.0\.0\.0 is not a loopback address.*--allow-remote/);
    expect(existsSync(f.dbPath)).toBe(false);
  });

  it('a listen address in use: the supervisor finds it when it binds, exit 1 at once with one line, nothing recorded', async () => {
    const f = fixture();
    const holder = createServer();
    servers.push(holder);
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as AddressInfo;
    const run = f.ratewarden(['run', '--db', f.dbPath, '--upstream', 'http://127.0.0.1:9', '--listen', `127.0.0.1:${port}`]);
    expect(await run.exit()).toEqual({ exitCode: exitCodes.failure, signal: undefined });
    expect(ratewardenLines(run.stderr)).toEqual([
      `ratewarden: cannot listen on http://127.0.0.1:${port}: the address is in use; stop the other process or choose another --listen`,
    ]);
    expect(run.stdout).toBe('');
    expect(existsSync(f.dbPath)).toBe(false);
  });

  it('a worker that exits with the usage code is not restarted and not recorded as a failure; the next run starts at once', async () => {
    const f = fixture();
    const run = f.supervise({ restartSec: '5s', startLimitBurst: 5, startLimitInterval: '5m' }, ['exit:2', 'serve']);
    expect(await run.exit()).toEqual({ exitCode: exitCodes.usage, signal: undefined });
    expect(f.workerPids()).toHaveLength(1);
    const [pid] = f.workerPids();
    expect(ratewardenLines(run.stderr).filter((line) => line.startsWith('ratewarden:'))).toEqual([
      `ratewarden: worker ${pid} exited with status 2, a usage or configuration mistake (its own line above says which); not restarting and not counted as a failure: fix the setting and start again`,
    ]);
    expect(f.eventsOf('worker-failed')).toEqual([]);
    expect(f.eventsOf('gave-up')).toEqual([]);
    expect(f.events().at(-1)).toMatchObject({ kind: 'supervisor-stopped' });

    // Nothing to remember: the next supervisor on this database starts its worker at once.
    const next = f.supervise({ restartSec: '5s', startLimitBurst: 5, startLimitInterval: '5m' }, ['exit:2', 'serve']);
    await f.waitForEvents('worker-ready', 1);
    expect(next.stdout).not.toContain('remembers');
    next.kill('SIGTERM');
    expect((await next.exit()).exitCode).toBe(0);
  });

  it('a worker that exits with the database code (a store that cannot be used) is not restarted either, and the supervisor exits 3', async () => {
    const f = fixture();
    const run = f.supervise({ restartSec: '5s', startLimitBurst: 5, startLimitInterval: '5m' }, ['exit:3', 'serve']);
    expect(await run.exit()).toEqual({ exitCode: exitCodes.database, signal: undefined });
    expect(f.workerPids()).toHaveLength(1);
    const [pid] = f.workerPids();
    expect(ratewardenLines(run.stderr).filter((line) => line.startsWith('ratewarden:'))).toEqual([
      `ratewarden: worker ${pid} exited with status 3, the database cannot be used (its own line above says which); not restarting and not counted as a failure: fix the database as its line says and start again`,
    ]);
    expect(f.eventsOf('worker-failed')).toEqual([]);
  });
});
