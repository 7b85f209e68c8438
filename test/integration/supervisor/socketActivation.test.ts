// systemd socket activation through systemd's own systemd-socket-activate (LISTEN_FDS=1, fd 3):
// the worker alone, and the supervisor, accept on the passed socket. Like systemd, the tool
// starts ratewarden at the first connection, which waits in the backlog meanwhile.
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimUpstream, type SimUpstream } from '../../../src/sim/upstream.js';
import { send } from '../../helpers/httpProbe.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';
import { repoRoot, SupervisorRun } from '../../helpers/supervisorHarness.js';

const scratch = new ScratchDirs();
const runs: SupervisorRun[] = [];
const sims: SimUpstream[] = [];

afterEach(async () => {
  for (const run of runs.splice(0)) {
    run.kill('SIGKILL');
    await run.child.catch(() => undefined);
  }
  for (const sim of sims.splice(0)) await sim.close();
  scratch.removeAll();
});

function hasSocketActivate(): boolean {
  try {
    execFileSync('systemd-socket-activate', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A port free a moment ago: systemd-socket-activate needs one named. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe.runIf(hasSocketActivate())('systemd socket activation', () => {
  for (const supervised of [false, true]) {
    it(`${supervised ? 'the supervisor' : 'the worker with --no-supervise'} is started by the first connection and answers it on the socket systemd passes`, async () => {
      const dir = scratch.make('ratewarden-activation-');
      const sim = await startSimUpstream();
      sims.push(sim);
      const port = await freePort();
      const args = [
        '-l',
        `127.0.0.1:${port}`,
        process.execPath,
        join(repoRoot, 'bin', 'ratewarden'),
        'run',
        ...(supervised ? [] : ['--no-supervise']),
        '--db',
        join(dir, 'rw.db'),
        '--upstream',
        sim.url,
        '--listen',
        `127.0.0.1:${port}`,
      ];
      // --listen names the same address: ratewarden binds nothing itself, or it would find it in use.
      const activator = new SupervisorRun('systemd-socket-activate', args, {
        XDG_CONFIG_HOME: join(dir, 'config'),
        PATH: process.env.PATH ?? '',
      });
      runs.push(activator);
      // Until the tool has bound the port, a connection is refused: that is before anything of ours runs.
      let answer = await send(`http://127.0.0.1:${port}`, '/v1/models');
      for (let tries = 0; answer.kind === 'error' && answer.code === 'ECONNREFUSED' && tries < 200; tries++) {
        await sleep(50);
        answer = await send(`http://127.0.0.1:${port}`, '/v1/models');
      }
      expect(answer).toMatchObject({ kind: 'answer', status: 200 });
      await activator.waitForOutput(
        supervised ? /worker \d+ ready at http:\/\/127\.0\.0\.1:(\d+)/ : /listening on http:\/\/127\.0\.0\.1:\d+/,
      );
      expect(activator.stdout).toContain(`127.0.0.1:${port}`);
      expect(sim.stats().requests).toBe(1);
      activator.kill('SIGTERM');
      expect((await activator.exit()).exitCode).toBe(0);
    });
  }
});
