import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { envName, kebabName, settingNames, settingsSchema } from '../../src/config/schema.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { cliEnv, runCli } from './operatorCli.js';

const dirs = new ScratchDirs();
afterEach(() => dirs.removeAll());

const durationSettings = settingNames.filter((name) => settingsSchema[name].expected === 'a duration');

function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter((line) => line !== '');
  expect(lines).toHaveLength(1);
  return lines[0] as string;
}

describe('credentials in --upstream', () => {
  const withCredentials = [
    'http://user:s3cr3t-pw@127.0.0.1:9/anthropic',
    'https://s3cr3t-pw@api.example',
    'user:s3cr3t-pw@127.0.0.1:9',
    'http://user:s3cr3t-pw@bad host',
  ];

  it.each(withCredentials)('are refused with one line and exit 2, and never printed: %s', async (upstream) => {
    const home = dirs.make('ratewarden-upstream-');
    for (const args of [
      ['config', '--upstream', upstream],
      ['run', '--no-supervise', '--listen', '127.0.0.1:0', '--upstream', upstream],
    ]) {
      const result = await runCli(args, cliEnv(home));
      expect(result.exitCode, args.join(' ')).toBe(2);
      const line = oneLine(result.stderr);
      expect(line).toMatch(/^ratewarden: upstream: the URL carries credentials .*\(from --upstream\)$/);
      expect(`${result.stdout}${result.stderr}`).not.toContain('s3cr3t-pw');
    }
    // Nothing was started: no database was created for a refused configuration.
    expect(existsSync(join(home, 'state', 'ratewarden', 'ratewarden.db'))).toBe(false);
  });

  it('are refused from the environment and the config file alike', async () => {
    const home = dirs.make('ratewarden-upstream-');
    const fromEnv = await runCli(['config'], cliEnv(home, { RATEWARDEN_UPSTREAM: 'http://u:s3cr3t-pw@127.0.0.1:9' }));
    expect(fromEnv.exitCode).toBe(2);
    expect(oneLine(fromEnv.stderr)).toContain('(from RATEWARDEN_UPSTREAM)');
    const file = join(home, 'config', 'ratewarden', 'config.json');
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, JSON.stringify({ upstream: 'http://u:s3cr3t-pw@127.0.0.1:9' }));
    const fromFile = await runCli(['config', '--json'], cliEnv(home));
    expect(fromFile.exitCode).toBe(2);
    expect(oneLine(fromFile.stderr)).toContain(`(from ${file})`);
    expect(`${fromEnv.stdout}${fromEnv.stderr}${fromFile.stdout}${fromFile.stderr}`).not.toContain('s3cr3t-pw');
  });

  it('refuses a query or fragment, which would not be sent either', async () => {
    const result = await runCli(['config', '--upstream', 'http://127.0.0.1:9/v1?key=abc'], cliEnv(dirs.make('ratewarden-upstream-')));
    expect(result.exitCode).toBe(2);
    expect(oneLine(result.stderr)).toContain('has a query or fragment');
    expect(result.stderr).not.toContain('key=abc');
  });
});

describe('durations beyond what a timer can hold', () => {
  it('every duration setting refuses more than 2^31−1 ms at parse time, naming the setting and the maximum', async () => {
    const home = dirs.make('ratewarden-durations-');
    expect(durationSettings.length).toBeGreaterThanOrEqual(15);
    for (const name of durationSettings) {
      const expected = `${kebabName(name)}: "600h" is longer than the maximum of 596h31m23.647s (2^31−1 ms, the longest a timer can wait); use at most 596h`;
      expect(() => loadConfig({ flags: { [name]: '600h' }, env: {} }), name).toThrow(
        new ConfigError(`${expected} (from --${kebabName(name)})`),
      );
      // An unsafe switch is refused from the environment before its value is read at all.
      if (settingsSchema[name].unsafe !== true)
        expect(() => loadConfig({ flags: {}, env: { [envName(name)]: '600h' } }), name).toThrow(
          new ConfigError(`${expected} (from ${envName(name)})`),
        );
      expect(() => loadConfig({ flags: { [name]: 2_147_483_648 }, env: {} }), name).toThrow(/is longer than the maximum/);
    }
    const result = await runCli(['config', '--stop-timeout', '600h'], cliEnv(home));
    expect(result.exitCode).toBe(2);
    expect(oneLine(result.stderr)).toBe(
      'ratewarden: stop-timeout: "600h" is longer than the maximum of 596h31m23.647s (2^31−1 ms, the longest a timer can wait); use at most 596h (from --stop-timeout)',
    );
    // The maximum itself is accepted, from the environment too.
    const atMax = await runCli(['config', '--json'], cliEnv(home, { RATEWARDEN_UPSTREAM_TIMEOUT: '596h31m23.647s' }));
    expect(atMax.exitCode).toBe(0);
    expect((JSON.parse(atMax.stdout) as { settings: Record<string, { value: number }> }).settings['upstream-timeout']?.value).toBe(
      2_147_483_647,
    );
  });

  it('run refuses --upstream-timeout 600h before it listens or opens the database', async () => {
    const home = dirs.make('ratewarden-durations-');
    const result = await runCli(
      ['run', '--no-supervise', '--listen', '127.0.0.1:0', '--upstream', 'http://127.0.0.1:9', '--upstream-timeout', '600h'],
      cliEnv(home),
    );
    expect(result.exitCode).toBe(2);
    expect(oneLine(result.stderr)).toContain('upstream-timeout: "600h" is longer than the maximum');
    expect(existsSync(join(home, 'state', 'ratewarden', 'ratewarden.db'))).toBe(false);
  });

  it('status --watch and demo durations have the same bound', async () => {
    const home = dirs.make('ratewarden-durations-');
    const watch = await runCli(['status', '--watch', '600h'], cliEnv(home));
    expect(watch.exitCode).toBe(2);
    expect(oneLine(watch.stderr)).toContain('--watch: "600h" is longer than the maximum of 596h31m23.647s');
    const demo = await runCli(['demo', '--duration', '600h'], cliEnv(home));
    expect(demo.exitCode).toBe(2);
    expect(oneLine(demo.stderr)).toContain('--duration: "600h" is longer than the maximum of 596h31m23.647s');
  });
});
