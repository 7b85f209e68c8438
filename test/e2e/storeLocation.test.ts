import { afterEach, describe, expect, it } from 'vitest';
import { exitCodes } from '../../src/kernel/exitCodes.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { cliEnv, runCli } from './operatorCli.js';

const dirs = new ScratchDirs();
afterEach(() => dirs.removeAll());

// Nothing listens there (port 9 on loopback): every command meets a server that is not there.
const url = 'postgres://warden:s3cret-pass@127.0.0.1:9/ratewarden?sslpassword=other-secret';

describe('--db chooses the store: a path is SQLite, a postgres:// URL the server backend', () => {
  it('fails in one line when the server is not there (exit 1; new-db, for SQLite files only, exit 2), without printing its secrets', async () => {
    const env = cliEnv(dirs.make('ratewarden-location-'));
    for (const command of [
      ['status'],
      ['reset-cooldown'],
      ['reset-restarts'],
      ['calibrate'],
      ['new-db'],
      ['run', '--no-supervise', '--upstream', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0'],
    ]) {
      const result = await runCli([...command, '--db', url], env);
      expect(result.exitCode, `${command[0]}: ${result.stderr}`).toBe(command[0] === 'new-db' ? exitCodes.usage : exitCodes.failure);
      if (command[0] !== 'new-db') expect(result.stderr).toContain('is unavailable: server unreachable');
      // One line of error, after the warning that a password is on the command line (passwordOnCommandLine.ts).
      expect(
        result.stderr
          .trim()
          .split('\n')
          .filter((line) => !line.startsWith('ratewarden: warning:')),
      ).toHaveLength(1);
      expect(result.stderr).toContain('postgres://warden:***@127.0.0.1:9/ratewarden');
      expect(result.stderr).not.toContain('s3cret-pass');
      expect(result.stderr).not.toContain('other-secret');
    }
  });

  it('config shows the store’s location, with the password masked', async () => {
    const env = cliEnv(dirs.make('ratewarden-location-'));
    const result = await runCli(['config', '--db', url, '--json'], env);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).not.toContain('s3cret-pass');
    expect(result.stdout).not.toContain('other-secret');
    const json = JSON.parse(result.stdout) as { settings: { db: { value: string; source: string } } };
    expect(json.settings.db).toMatchObject({ value: 'postgres://warden:***@127.0.0.1:9/ratewarden?sslpassword=***', source: 'flag' });
    const text = await runCli(['config', '--db', url], env);
    expect(text.stdout).toContain('postgres://warden:***@127.0.0.1:9/ratewarden');
    expect(text.stdout).not.toContain('s3cret-pass');
  });
});
