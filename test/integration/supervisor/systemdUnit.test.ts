// `ratewarden systemd-unit` through the built CLI (run `npm run build` first).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { renderSystemdUnit } from '../../../src/cli/systemdUnitText.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';
import { repoRoot } from '../../helpers/supervisorHarness.js';

const scratch = new ScratchDirs();
afterEach(() => scratch.removeAll());

const bin = join(repoRoot, 'bin', 'ratewarden');

async function systemdUnit(args: readonly string[]) {
  return execa(process.execPath, [bin, 'systemd-unit', ...args], {
    reject: false,
    env: { XDG_CONFIG_HOME: '/nonexistent/ratewarden-test' },
  });
}

function keys(unit: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  let section = '';
  for (const line of unit.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header !== null) {
      section = header[1] as string;
      continue;
    }
    const [key, ...value] = line.split('=');
    const name = `${section}.${key}`;
    found.set(name, [...(found.get(name) ?? []), value.join('=')]);
  }
  return found;
}

function hasSystemdAnalyze(): boolean {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('ratewarden systemd-unit', () => {
  it("prints a unit whose restart policy matches ratewarden's own, with the state directory and hardening", async () => {
    const result = await systemdUnit(['--upstream', 'https://api.anthropic.com']);
    expect(result.exitCode).toBe(0);
    const unit = keys(result.stdout);
    expect(unit.get('Unit.StartLimitIntervalSec')).toEqual(['300']);
    expect(unit.get('Unit.StartLimitBurst')).toEqual(['5']);
    expect(unit.get('Service.Restart')).toEqual(['on-failure']);
    expect(unit.get('Service.RestartSec')).toEqual(['10']);
    expect(unit.get('Service.RestartPreventExitStatus')).toEqual(['4']);
    expect(unit.get('Service.StateDirectory')).toEqual(['ratewarden']);
    expect(unit.get('Service.Environment')).toEqual(['RATEWARDEN_DB=/var/lib/ratewarden/ratewarden.db']);
    expect(unit.get('Service.ExecStart')).toEqual([`${process.execPath} ${bin} run --no-supervise --upstream https://api.anthropic.com`]);
    expect(unit.get('Service.TimeoutStopSec')).toEqual(['35']);
    for (const [key, value] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['PrivateTmp', 'yes'],
      ['DynamicUser', 'yes'],
      ['CapabilityBoundingSet', ''],
    ]) {
      expect(unit.get(`Service.${key}`), key).toEqual([value]);
    }
    expect(unit.get('Service.ProtectHome')?.[0]).toMatch(/^(yes|read-only)$/);
    expect(unit.get('Install.WantedBy')).toEqual(['multi-user.target']);
    // Systemd's start limit lives in [Unit]; in [Service] it would be ignored.
    expect(unit.has('Service.StartLimitBurst')).toBe(false);
  });

  it('follows the given settings, the supervised mode, a user, and extra run arguments', async () => {
    const result = await systemdUnit([
      '--upstream',
      'https://api.openai.com',
      '--listen',
      '127.0.0.1:8788',
      '--supervised',
      '--user',
      'ratewarden',
      '--restart-sec',
      '5s',
      '--start-limit-burst',
      '3',
      '--start-limit-interval',
      '2m',
      '--stop-timeout',
      '10s',
      '--exec-start',
      '/usr/local/bin/ratewarden',
      '--',
      '--token-budget',
      '200000',
    ]);
    expect(result.exitCode).toBe(0);
    const unit = keys(result.stdout);
    expect(unit.get('Service.ExecStart')).toEqual([
      '/usr/local/bin/ratewarden run --upstream https://api.openai.com --listen 127.0.0.1:8788 --stop-timeout 10s --restart-sec 5s --start-limit-burst 3 --start-limit-interval 2m --token-budget 200000',
    ]);
    expect(unit.get('Service.RestartSec')).toEqual(['5']);
    expect(unit.get('Unit.StartLimitBurst')).toEqual(['3']);
    expect(unit.get('Unit.StartLimitIntervalSec')).toEqual(['120']);
    expect(unit.get('Service.TimeoutStopSec')).toEqual(['15']);
    expect(unit.get('Service.User')).toEqual(['ratewarden']);
    expect(unit.has('Service.DynamicUser')).toBe(false);
  });

  it('refuses to print a unit without an upstream, or with a relative ExecStart', async () => {
    const missing = await systemdUnit([]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr.trim()).toBe(
      'ratewarden: systemd-unit: no upstream; pass --upstream, e.g. ratewarden systemd-unit --upstream https://api.anthropic.com',
    );
    const relative = await systemdUnit(['--upstream', 'https://api.anthropic.com', '--exec-start', 'bin/ratewarden']);
    expect(relative.exitCode).toBe(2);
    expect(relative.stderr).toContain('--exec-start: "bin/ratewarden" is not an absolute path');
  });

  it('refuses to write an unsafe switch into a unit, in one line', async () => {
    for (const arg of ['--unsafe-no-cooldown', '--unsafe-retry-rate-limited-after=3s']) {
      const result = await systemdUnit(['--upstream', 'https://api.anthropic.com', '--', '--token-budget', '40000', arg]);
      expect(result.exitCode).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(`systemd-unit: ${arg.split('=')[0]} switches a protection off`);
    }
  });

  it('escapes what systemd would expand, and keeps a home-installed ratewarden readable', () => {
    const unit = renderSystemdUnit({
      execStart: ['/home/alice/.nvm/node', '/home/alice/ratewarden/bin/ratewarden'],
      runArgs: ['--upstream', 'https://example.com/a%20b', '--header-note', 'two words $HOME'],
      supervised: false,
      user: null,
      upstream: 'https://example.com/a%20b',
      restartSecMs: 250,
      restartMaxDelayMs: 4_000,
      startLimitBurst: 5,
      startLimitIntervalMs: 300_000,
      stopTimeoutMs: 30_000,
      startTimeoutMs: 30_000,
      socketActivated: false,
    });
    const parsed = keys(unit);
    expect(parsed.get('Service.ExecStart')).toEqual([
      '/home/alice/.nvm/node /home/alice/ratewarden/bin/ratewarden run --no-supervise --upstream https://example.com/a%%20b --header-note "two words $$HOME"',
    ]);
    expect(parsed.get('Unit.Description')).toEqual(['ratewarden rate-limit proxy for https://example.com/a%%20b']);
    expect(parsed.get('Service.ProtectHome')).toEqual(['read-only']);
    expect(parsed.get('Service.RestartSec')).toEqual(['250ms']);
  });

  it('passes systemd-analyze verify where systemd-analyze exists, in both modes', async () => {
    for (const mode of [[], ['--supervised']]) {
      const result = await systemdUnit(['--upstream', 'https://api.anthropic.com', ...mode]);
      const path = join(scratch.make('ratewarden-unit-'), 'ratewarden.service');
      writeFileSync(path, result.stdout);
      if (!hasSystemdAnalyze()) {
        // Without systemd the content checks above are what there is.
        expect(result.stdout).toContain('[Service]');
        continue;
      }
      const verify = await execa('systemd-analyze', ['verify', path], { reject: false });
      expect({ mode, exitCode: verify.exitCode, output: `${verify.stdout}${verify.stderr}`.trim() }).toEqual({
        mode,
        exitCode: 0,
        output: '',
      });
    }
  });
});

describe('ratewarden systemd-unit with socket activation', () => {
  it('prints a ratewarden.socket for the listen address and a service that requires it; both pass systemd-analyze verify', async () => {
    const socket = await systemdUnit(['--upstream', 'https://api.anthropic.com', '--listen', '127.0.0.1:8799', '--socket-unit']);
    expect(socket.exitCode).toBe(0);
    const socketKeys = keys(socket.stdout);
    expect(socketKeys.get('Socket.ListenStream')).toEqual(['127.0.0.1:8799']);
    expect(socketKeys.get('Socket.Accept')).toEqual(['no']);
    expect(socketKeys.get('Socket.Service')).toEqual(['ratewarden.service']);
    expect(socketKeys.get('Install.WantedBy')).toEqual(['sockets.target']);

    const service = await systemdUnit(['--upstream', 'https://api.anthropic.com', '--listen', '127.0.0.1:8799', '--socket-activation']);
    expect(service.exitCode).toBe(0);
    const serviceKeys = keys(service.stdout);
    expect(serviceKeys.get('Unit.Requires')).toEqual(['ratewarden.socket']);
    expect(serviceKeys.get('Unit.After')).toEqual(['network-online.target', 'ratewarden.socket']);
    expect(serviceKeys.get('Service.ExecStart')?.[0]).toContain(
      'run --no-supervise --upstream https://api.anthropic.com --listen 127.0.0.1:8799',
    );

    const dir = scratch.make('ratewarden-unit-');
    writeFileSync(join(dir, 'ratewarden.socket'), socket.stdout);
    writeFileSync(join(dir, 'ratewarden.service'), service.stdout);
    if (!hasSystemdAnalyze()) return;
    const verify = await execa('systemd-analyze', ['verify', join(dir, 'ratewarden.socket'), join(dir, 'ratewarden.service')], {
      reject: false,
    });
    expect({ exitCode: verify.exitCode, output: `${verify.stdout}${verify.stderr}`.trim() }).toEqual({ exitCode: 0, output: '' });
  });

  it('refuses a socket unit for port 0, in one line', async () => {
    const result = await systemdUnit(['--upstream', 'https://api.anthropic.com', '--listen', '127.0.0.1:0', '--socket-unit']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe(
      'ratewarden: systemd-unit: --socket-unit needs a fixed port, not 0; pass --listen 127.0.0.1:8787 (the same --listen as for the service)',
    );
  });
});
