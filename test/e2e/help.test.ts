import { afterEach, describe, expect, it } from 'vitest';
import { kebabName, settingNames, settingsSchema } from '../../src/config/schema.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { cliEnv, runCli } from './operatorCli.js';

const dirs = new ScratchDirs();
afterEach(() => dirs.removeAll());

interface HelpEntry {
  group: string;
  /** The whole entry on one line: commander wraps descriptions onto indented lines. */
  text: string;
}

/** The options of a --help text, each with the heading it is listed under. */
function helpEntries(help: string): Map<string, HelpEntry> {
  const entries = new Map<string, HelpEntry>();
  let group = '';
  let current: { flag: string; entry: HelpEntry } | null = null;
  for (const line of help.split('\n')) {
    const heading = /^(\S.*):$/.exec(line);
    const start = /^ {2}(?:-\w, )?(--[\w-]+)/.exec(line);
    if (heading) {
      group = heading[1] as string;
      current = null;
    } else if (start) {
      current = { flag: start[1] as string, entry: { group, text: line.trim() } };
      entries.set(current.flag, current.entry);
    } else if (current !== null && /^ {4,}\S/.test(line)) {
      current.entry.text += ` ${line.trim()}`;
    } else {
      current = null;
    }
  }
  return entries;
}

async function runHelp(): Promise<{ stdout: string; entries: Map<string, HelpEntry> }> {
  const result = await runCli(['run', '--help'], cliEnv(dirs.make('ratewarden-help-')));
  expect(result.exitCode).toBe(0);
  return { stdout: result.stdout, entries: helpEntries(result.stdout) };
}

function entry(entries: Map<string, HelpEntry>, flag: string): HelpEntry {
  const found = entries.get(flag);
  if (found === undefined) throw new Error(`${flag} is not in ratewarden run --help`);
  return found;
}

describe('ratewarden run --help', () => {
  it('lists the required flag first', async () => {
    const { stdout } = await runHelp();
    const flags = [...stdout.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((match) => match[1]);
    expect(flags[0]).toBe('--upstream');
  });

  it('groups the flags under proxy, limits, controller and supervisor headings, in that order', async () => {
    const { stdout, entries } = await runHelp();
    const headings = [...stdout.matchAll(/^(\S[^\n]*options):$/gm)].map((match) => match[1]);
    expect(headings).toEqual([
      'Required options',
      'General options',
      'Proxy options',
      'Limits options',
      'Controller options',
      'Supervisor options',
    ]);
    expect(entry(entries, '--upstream').group).toBe('Required options');
    expect(entry(entries, '--provider').group).toBe('Proxy options');
    expect(entry(entries, '--window').group).toBe('Limits options');
    expect(entry(entries, '--backoff-base').group).toBe('Limits options');
    expect(entry(entries, '--cut-factor').group).toBe('Controller options');
    expect(entry(entries, '--restart-sec').group).toBe('Supervisor options');
    expect(entry(entries, '--no-supervise').group).toBe('Supervisor options');
    expect(entry(entries, '--db').group).toBe('General options');
    expect(entry(entries, '--help').group).toBe('General options');
  });

  it('shows each flag’s default and allowed values on its own line', async () => {
    const { entries } = await runHelp();
    expect(entry(entries, '--window').text).toMatch(/^--window <duration> .*\(default: 1m; > 0, e\.g\. 300ms, 10s, 5m, 1h\)$/);
    expect(entry(entries, '--max-wait').text).toContain('(default: 1m; ≥ 0, e.g. 300ms, 10s, 5m, 1h)');
    expect(entry(entries, '--provider').text).toContain('(default: auto; one of auto, anthropic, openai, generic)');
    expect(entry(entries, '--token-metric').text).toContain('(default: total; one of input, output, total)');
    expect(entry(entries, '--durability').text).toContain('(default: normal; one of normal, full)');
    expect(entry(entries, '--token-budget').text).toContain('(default: none; a whole number > 0, or none)');
    expect(entry(entries, '--safety-margin').text).toContain('(default: 0.97; > 0 and ≤ 1)');
    expect(entry(entries, '--start-limit-burst').text).toContain('(default: 5; a whole number ≥ 1)');
    expect(entry(entries, '--max-body').text).toContain('(default: 10mb; > 0, e.g. 512kb, 10mb)');
    expect(entry(entries, '--listen').text).toContain('(default: 127.0.0.1:8787;');
    expect(entry(entries, '--db').text).toContain('(default: $XDG_STATE_HOME/ratewarden/ratewarden.db)');
    expect(entry(entries, '--allow-remote').text).toContain('(default: off)');
    expect(entry(entries, '--no-supervise').text).toContain('(default: supervised)');
  });

  it('lists every setting but the unsafe switches, each with a default', async () => {
    const { entries } = await runHelp();
    for (const name of settingNames) {
      const flag = `--${kebabName(name)}`;
      if (settingsSchema[name].unsafe === true) {
        expect(entries.has(flag)).toBe(false);
        continue;
      }
      expect(entry(entries, flag).text).toMatch(/\(default: [^)]+\)$/);
    }
  });
});

/** Lines longer than `width`, but for a single word no wrapping can break (a long path). */
function overlong(text: string, width: number): string[] {
  return text.split('\n').filter((line) => line.length > width && line.trim().includes(' '));
}

const commands = ['run', 'status', 'calibrate', 'reset-cooldown', 'reset-restarts', 'config', 'systemd-unit', 'demo', 'new-db'];

describe('help width', () => {
  it('wraps every help to 80 columns when the output is not a terminal', async () => {
    const env = cliEnv(dirs.make('ratewarden-help-'));
    delete env.COLUMNS;
    for (const args of [['--help'], ...commands.map((command) => [command, '--help'])]) {
      const result = await runCli(args, env);
      expect(result.exitCode).toBe(0);
      expect({ args, long: overlong(result.stdout, 80) }).toEqual({ args, long: [] });
      expect(result.stdout.split('\n').every((line) => line.length <= 80)).toBe(true);
    }
  });

  it('wraps to the width COLUMNS gives', async () => {
    const env = cliEnv(dirs.make('ratewarden-help-'), { COLUMNS: '60' });
    for (const args of [['--help'], ['run', '--help'], ['status', '--help']]) {
      const result = await runCli(args, env);
      expect(result.exitCode).toBe(0);
      expect({ args, long: overlong(result.stdout, 60) }).toEqual({ args, long: [] });
    }
  });

  it('shows on the top-level help where to start, the client side included', async () => {
    const result = await runCli(['--help'], cliEnv(dirs.make('ratewarden-help-')));
    expect(result.stdout).toContain('Start here:');
    expect(result.stdout).toContain('$ ratewarden demo');
    expect(result.stdout).toContain('ANTHROPIC_BASE_URL=http://127.0.0.1:8787');
    expect(result.stdout).toContain('OPENAI_BASE_URL=http://127.0.0.1:8787/v1');
  });

  it('lists under status only the flags status uses', async () => {
    const result = await runCli(['status', '--help'], cliEnv(dirs.make('ratewarden-help-')));
    const flags = [...result.stdout.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((match) => match[1]).sort();
    expect(flags).toEqual(['--allow-remote', '--config', '--db', '--help', '--json', '--scope', '--watch', '--web']);
    expect(result.stdout.split('\n').length).toBeLessThanOrEqual(40);
  });
});
