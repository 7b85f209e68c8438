import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { cliEnv, runCli } from './operatorCli.js';

/** Issue 26 item 11: --config naming anything but a regular file is refused at once, in one line, exit 2. */
const dirs = new ScratchDirs();
afterEach(() => dirs.removeAll());

describe('--config that is not a regular file', () => {
  it('a FIFO: refused without hanging on it (run and config alike)', async () => {
    const home = dirs.make('ratewarden-cfgfifo-');
    const fifo = join(home, 'config.json');
    execFileSync('mkfifo', [fifo]);
    for (const args of [
      ['run', '--no-supervise', '--config', fifo, '--upstream', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0'],
      ['config', '--config', fifo],
    ]) {
      const result = await runCli(args, cliEnv(home));
      expect(result.exitCode).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(
        `config file ${fifo}: it is a FIFO (named pipe), not a regular file; give --config or RATEWARDEN_CONFIG the path of a JSON file`,
      );
    }
  });

  it('an endless device or a folder, also through RATEWARDEN_CONFIG', async () => {
    const home = dirs.make('ratewarden-cfgdev-');
    const zero = await runCli(['config', '--config', '/dev/zero'], cliEnv(home));
    expect(zero.exitCode).toBe(2);
    expect(zero.stderr).toMatch(/config file \/dev\/zero: it is a device, not a regular file/);
    const folder = await runCli(['config'], cliEnv(home, { RATEWARDEN_CONFIG: home }));
    expect(folder.exitCode).toBe(2);
    expect(folder.stderr).toMatch(/it is a folder, not a regular file/);
  });
});
