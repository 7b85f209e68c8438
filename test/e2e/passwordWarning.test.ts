import { afterEach, describe, expect, it } from 'vitest';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { cliEnv, runCli } from './operatorCli.js';

/** Issue 26 item 13: a password in --db on the command line is visible in ps; the CLI warns once, in one line. */
const dirs = new ScratchDirs();
afterEach(() => dirs.removeAll());

// Port 9 on loopback: nothing listens, so each command fails fast after the warning (or without it).
const withPassword = 'postgres://ratewarden:s3cret-pw@127.0.0.1:9/ratewarden';
const warning =
  /^ratewarden: warning: the PostgreSQL URL on the command line carries a password, which every user of this host can read in the process list \(ps\); leave it out of the URL and set PGPASSWORD or ~\/.pgpass, or give the whole URL in RATEWARDEN_DB \(docs\/fleet.md\)$/m;

describe('a password on the command line', () => {
  it('is warned of once, in one line, and never echoed, for --db URL and --db=URL alike', async () => {
    const home = dirs.make('ratewarden-pw-');
    for (const args of [
      ['status', '--db', withPassword],
      ['status', `--db=${withPassword}`],
      ['status', '--db', 'postgres://ratewarden@127.0.0.1:9/ratewarden?password=s3cret-pw'],
    ]) {
      const result = await runCli(args, cliEnv(home));
      expect(result.stderr).toMatch(warning);
      expect(result.stderr.match(/warning: the PostgreSQL URL/g)).toHaveLength(1);
      expect(`${result.stdout}${result.stderr}`).not.toContain('s3cret-pw');
    }
  });

  it('is not warned of when the password comes from RATEWARDEN_DB or PGPASSWORD, or the URL has none', async () => {
    const home = dirs.make('ratewarden-pw-');
    const fromEnv = await runCli(['status'], cliEnv(home, { RATEWARDEN_DB: withPassword }));
    expect(fromEnv.stderr).not.toMatch(/warning: the PostgreSQL URL/);
    const withoutPassword = await runCli(
      ['status', '--db', 'postgres://ratewarden@127.0.0.1:9/ratewarden'],
      cliEnv(home, { PGPASSWORD: 's3cret-pw' }),
    );
    expect(withoutPassword.stderr).not.toMatch(/warning: the PostgreSQL URL/);
  });
});
