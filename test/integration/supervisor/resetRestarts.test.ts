// `ratewarden reset-restarts` and the give-up it releases, through the built CLI (run `npm run build` first).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitCodes } from '../../../src/kernel/exitCodes.js';
import { openDatabase } from '../../../src/store/sqlite/open.js';
import { freeLoopbackPort } from '../../helpers/freePort.js';
import { useSupervisorFixtures } from '../../helpers/supervisorHarness.js';

const fixture = useSupervisorFixtures();

function auditRows(dbPath: string): { action: string; reason: string | null; detail: string }[] {
  const db = openDatabase(dbPath, { readonly: true });
  try {
    return db.prepare('SELECT action, reason, detail FROM audit_log ORDER BY id').all() as {
      action: string;
      reason: string | null;
      detail: string;
    }[];
  } finally {
    db.close();
  }
}

describe('ratewarden reset-restarts', () => {
  it('releases the brakes after a give-up: recorded in audit_log, and the next supervisor starts at once', async () => {
    const f = fixture();
    // One address: the next supervisor is the same one again, and would continue its brakes.
    const settings = {
      restartSec: '1m',
      restartMaxDelay: '1m',
      startLimitBurst: 2,
      startLimitInterval: '10m',
      listen: `127.0.0.1:${await freeLoopbackPort()}`,
    };
    expect((await f.supervise(settings, ['exit:1', 'exit:1', 'serve']).exit()).exitCode).toBe(exitCodes.gaveUp);

    // The same restart-sec as the supervisor's: the reset sees the give-up's delay as still pending.
    const reset = f.ratewarden(['reset-restarts', '--db', f.dbPath, '--reason', 'fixed the config'], {
      RATEWARDEN_RESTART_SEC: '1m',
      RATEWARDEN_RESTART_MAX_DELAY: '1m',
    });
    expect((await reset.exit()).exitCode).toBe(0);
    expect(reset.stdout).toMatch(
      /^Cleared the restart history: 2 failures within the last 5m, 2 failures in a row, the pending restart delay, the give-up\. Start "ratewarden run" again/,
    );
    expect(reset.stdout).toMatch(/Recorded in audit_log by .+@.+ \(pid \d+\)\./);
    const [audit] = auditRows(f.dbPath);
    expect(audit).toMatchObject({ action: 'reset-restarts', reason: 'fixed the config' });
    expect(JSON.parse(audit?.detail ?? '{}')).toEqual({
      failuresInInterval: 2,
      consecutiveFailures: 2,
      gaveUp: true,
      restartWasDue: true,
      anything: true,
    });

    // Without the reset this supervisor would wait a minute and give up at its first failure.
    const run = f.supervise(settings, ['exit:1', 'exit:1', 'serve']);
    await f.waitForEvents('worker-ready', 1, 30_000);
    expect(f.eventsOf('cleared')).toHaveLength(1);
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });

  it('says so when there is nothing to clear, and prints JSON with --json', async () => {
    const f = fixture();
    expect((await f.supervise({}, ['ready-exit:0:10']).exit()).exitCode).toBe(0);
    const text = f.ratewarden(['reset-restarts', '--db', f.dbPath]);
    expect((await text.exit()).exitCode).toBe(0);
    expect(text.stdout).toMatch(/^Nothing to clear: no worker failures since the last reset\./);

    const json = f.ratewarden(['reset-restarts', '--db', f.dbPath, '--json', '--reason', 'routine']);
    expect((await json.exit()).exitCode).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      database: f.dbPath,
      reason: 'routine',
      anything: false,
      failuresInInterval: 0,
      gaveUp: false,
    });
  });

  it('refuses a database that does not exist, and creates none', async () => {
    const f = fixture();
    const missing = join(f.dir, 'nowhere', 'ratewarden.db');
    const run = f.ratewarden(['reset-restarts', '--db', missing]);
    expect((await run.exit()).exitCode).toBe(exitCodes.database);
    expect(run.stderr.trim()).toBe(
      `ratewarden: database ${missing} does not exist; start the proxy with "ratewarden run" to create it, or pass --db / RATEWARDEN_DB`,
    );
    expect(existsSync(missing)).toBe(false);
  });
});
