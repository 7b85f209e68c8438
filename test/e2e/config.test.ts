import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { cliEnv, runCli } from './operatorCli.js';

const dirs = new ScratchDirs();
afterEach(() => dirs.removeAll());

interface ConfigJson {
  configFile: string | null;
  defaultConfigFile: string;
  settings: Record<string, { value: unknown; text: string; source: string; env: string; flag: string }>;
}

function writeJson(path: string, content: unknown): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, JSON.stringify(content));
  return path;
}

async function configJson(args: string[], env: Record<string, string>): Promise<ConfigJson> {
  const result = await runCli(['config', '--json', ...args], env);
  expect(result.stderr).toBe('');
  expect(result.exitCode).toBe(0);
  return JSON.parse(result.stdout) as ConfigJson;
}

describe('ratewarden config', () => {
  it('resolves flag > env > file > default and names the source of each value', async () => {
    const home = dirs.make('ratewarden-config-');
    const file = writeJson(join(home, 'config', 'ratewarden', 'config.json'), {
      window: '2m',
      'token-budget': 1_000,
      'backoff-base': '5s',
      listen: '127.0.0.1:9000',
    });
    const env = cliEnv(home, { RATEWARDEN_WINDOW: '90s', RATEWARDEN_TOKEN_BUDGET: '2000' });
    const json = await configJson(['--window', '45s'], env);

    expect(json.configFile).toBe(file);
    expect(json.defaultConfigFile).toBe(file);
    expect(json.settings.window).toMatchObject({ value: 45_000, text: '45s', source: 'flag', flag: '--window' });
    expect(json.settings['token-budget']).toMatchObject({ value: 2_000, source: 'env', env: 'RATEWARDEN_TOKEN_BUDGET' });
    expect(json.settings['backoff-base']).toMatchObject({ value: 5_000, text: '5s', source: 'file' });
    expect(json.settings.listen).toMatchObject({ value: { host: '127.0.0.1', port: 9_000 }, text: '127.0.0.1:9000', source: 'file' });
    expect(json.settings['backoff-max']).toMatchObject({ value: 300_000, text: '5m', source: 'default' });
    expect(json.settings.db).toMatchObject({ value: join(home, 'state', 'ratewarden', 'ratewarden.db'), source: 'default' });

    const human = await runCli(['config', '--window', '45s'], env);
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toContain(`config file: ${file}`);
    expect(human.stdout).toMatch(/^window\s+flag --window\s+45s$/m);
    expect(human.stdout).toMatch(/^token-budget\s+env RATEWARDEN_TOKEN_BUDGET\s+2000$/m);
    expect(human.stdout).toMatch(/^backoff-base\s+file\s+5s$/m);
    expect(human.stdout).toMatch(/^backoff-max\s+default\s+5m$/m);
  });

  it('aligns its columns, a long database path included, and hides the unsafe switches unless set', async () => {
    const home = dirs.make('ratewarden-config-');
    const env = cliEnv(home, { RATEWARDEN_DB: join(home, 'a-rather-long-folder-name-for-the-state', 'of-this-host', 'ratewarden.db') });
    const human = await runCli(['config'], env);
    expect(human.exitCode).toBe(0);
    const rows = human.stdout
      .split('\n')
      .slice(3)
      .filter((line) => line !== '');
    // The value column starts at the same place on every row.
    const valueAt = new Set(rows.map((line) => /^\S+\s+\S+(?: \S+)?\s+/.exec(line)?.[0].length));
    expect(valueAt.size).toBe(1);
    expect(human.stdout).toMatch(/^db\s+env RATEWARDEN_DB\s+\/\S+ratewarden\.db$/m);
    expect(human.stdout).not.toContain('unsafe');
    const json = JSON.parse((await runCli(['config', '--json'], env)).stdout) as { settings: Record<string, unknown> };
    expect(Object.keys(json.settings).some((key) => key.startsWith('unsafe'))).toBe(false);
    const set = await runCli(['config', '--unsafe-no-cooldown'], env);
    expect(set.stdout).toMatch(/^unsafe-no-cooldown\s+flag --unsafe-no-cooldown\s+true$/m);
  });

  it('reads the file named by --config, else RATEWARDEN_CONFIG, else the default location', async () => {
    const home = dirs.make('ratewarden-config-');
    const byFlag = writeJson(join(home, 'a.json'), { window: '10s' });
    const byEnv = writeJson(join(home, 'b.json'), { window: '20s' });
    const env = cliEnv(home, { RATEWARDEN_CONFIG: byEnv });
    expect((await configJson(['--config', byFlag], env)).settings.window?.value).toBe(10_000);
    expect((await configJson([], env)).configFile).toBe(byEnv);
    const none = await configJson([], cliEnv(home));
    expect(none.configFile).toBeNull();
    expect(none.settings.window?.source).toBe('default');
    expect((await runCli(['config'], cliEnv(home))).stdout).toContain(
      `config file: none (${join(home, 'config', 'ratewarden', 'config.json')} does not exist)`,
    );
  });

  it('settings reach the commands: status uses the configured window and database', async () => {
    const home = dirs.make('ratewarden-config-');
    const db = join(home, 'elsewhere.db');
    writeJson(join(home, 'config', 'ratewarden', 'config.json'), { db, window: '2m' });
    const result = await runCli(['status'], cliEnv(home));
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain(db);
    expect(existsSync(db)).toBe(false);
  });

  it.each([
    [['--window', '6o s'], {}, 'window: "6o s" is not a duration; use e.g. 60s, 5m (from --window)'],
    [
      [],
      { RATEWARDEN_TOKEN_BUDGET: 'lots' },
      'token-budget: "lots" is not a whole number > 0 or "none"; use e.g. 40000, or none (from RATEWARDEN_TOKEN_BUDGET)',
    ],
    [[], { RATEWARDEN_WINDOWS: '1m' }, 'environment: unknown variable RATEWARDEN_WINDOWS (did you mean "RATEWARDEN_WINDOW"?)'],
    [['--listen', 'localhost'], {}, 'listen: "localhost" is not HOST:PORT'],
  ])('refuses %j %j with one line and exit 2, in every command', async (args, extraEnv, message) => {
    const home = dirs.make('ratewarden-config-');
    const env = cliEnv(home, extraEnv);
    for (const command of ['config', 'status', 'calibrate', 'reset-cooldown']) {
      const result = await runCli([command, ...args], env);
      expect(result.exitCode).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(`ratewarden: ${message}`);
    }
    expect(existsSync(join(home, 'state'))).toBe(false);
  });

  it('refuses a config file with an unknown key, a bad value or bad JSON, naming the file', async () => {
    const home = dirs.make('ratewarden-config-');
    const file = join(home, 'config', 'ratewarden', 'config.json');
    const cases: [unknown, string][] = [
      [{ windw: '1m' }, `config file ${file}: unknown key "windw" (did you mean "window"?)`],
      [{ window: '6o s' }, `window: "6o s" is not a duration; use e.g. 60s, 5m (from ${file})`],
      [['window'], `config file ${file}: must be one JSON object`],
    ];
    for (const [content, message] of cases) {
      writeJson(file, content);
      const result = await runCli(['config'], cliEnv(home));
      expect(result.exitCode).toBe(2);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(message);
    }
    writeFileSync(file, '{ "window": ');
    const broken = await runCli(['config'], cliEnv(home));
    expect(broken.exitCode).toBe(2);
    expect(broken.stderr).toContain(`config file ${file}: not valid JSON`);
    const missing = await runCli(['config', '--config', join(home, 'nope.json')], cliEnv(home));
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain(`config file ${join(home, 'nope.json')}: cannot be read (ENOENT)`);
  });

  it('lists every key and its environment variable in --help', async () => {
    const home = dirs.make('ratewarden-config-');
    const help = await runCli(['config', '--help'], cliEnv(home));
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('Examples:');
    expect(help.stdout).toMatch(/token-budget\s+RATEWARDEN_TOKEN_BUDGET/);
    expect(help.stdout).toMatch(/start-limit-interval\s+RATEWARDEN_START_LIMIT_INTERVAL/);
  });
});

describe('--upstream with one URL per provider', () => {
  it('joins repeated flags, and refuses a nameless or unknown or doubled provider in one line, exit 2', async () => {
    const env = cliEnv(dirs.make('ratewarden-upstreams-'));
    const joined = await runCli(
      ['config', '--upstream', 'anthropic=https://api.anthropic.com', '--upstream', 'openai=https://api.openai.com/'],
      env,
    );
    expect(joined.exitCode).toBe(0);
    expect(joined.stdout).toMatch(
      /^upstream\s+flag --upstream\s+anthropic=https:\/\/api\.anthropic\.com,openai=https:\/\/api\.openai\.com$/m,
    );
    for (const [value, words] of [
      ['foo=https://x.example', '"foo" is not a provider'],
      ['https://a.example,https://b.example', 'with several upstreams, name each one'],
      ['anthropic=https://a.example,anthropic=https://b.example', 'anthropic is named twice'],
      ['openai=ftp://x.example', 'the openai URL is not an http:// or https:// URL'],
    ] as const) {
      const refused = await runCli(['run', '--upstream', value], env);
      expect(refused.exitCode).toBe(2);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).toContain(words);
    }
  });
});
