import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { exitCodes } from '../../../src/kernel/exitCodes.js';
import { freeLoopbackPort } from '../../helpers/freePort.js';
import { useSupervisorFixtures } from '../../helpers/supervisorHarness.js';
import { openSqliteLedger } from '../../helpers/sqliteWarden.js';

const fixture = useSupervisorFixtures();

describe('the restart history of two supervisors on one database (issue 26)', () => {
  it("is each one's own: a crash loop that makes one give up leaves the other restarting", async () => {
    const a = fixture();
    const b = fixture();
    const settings = { restartSec: '100ms', restartMaxDelay: '200ms', startLimitBurst: 3, startLimitInterval: '5m' };
    const runA = a.supervise({ ...settings, listen: `127.0.0.1:${await freeLoopbackPort()}` }, ['exit:1']);
    expect((await runA.exit()).exitCode).toBe(exitCodes.gaveUp);
    expect(a.eventsOf('gave-up')).toHaveLength(1);

    // B on the same database, another address: its worker fails once, and it restarts it at once.
    const runB = b.supervise({ ...settings, db: a.dbPath, listen: `127.0.0.1:${await freeLoopbackPort()}` }, ['ready-exit:1:300', 'serve']);
    await a.waitForEvents('worker-ready', 2);
    const ofB = a.events().filter((event) => event.supervisorPid === runB.pid);
    expect(ofB.filter((event) => event.kind === 'worker-failed')).toEqual([expect.objectContaining({ delayMs: 0 })]);
    expect(ofB.filter((event) => event.kind === 'gave-up')).toEqual([]);
    expect(runB.stdout).not.toContain('remembers');
    runB.kill('SIGTERM');
    expect((await runB.exit()).exitCode).toBe(0);
  });
});

describe('the durable restart history', () => {
  it('is continued by a new supervisor on the same database and address: the count, the delay and the burst window', async () => {
    const f = fixture();
    const settings = {
      restartSec: '10s',
      restartMaxDelay: '1m',
      startLimitBurst: 3,
      startLimitInterval: '30s',
      listen: `127.0.0.1:${await freeLoopbackPort()}`,
    };
    const first = f.supervise(settings, ['exit:1']);
    // Two failures: the first restarts at once, the second asks for 10 s. The supervisor dies during that delay.
    const [, secondFailure] = await f.waitForEvents('worker-failed', 2, 40_000);
    first.kill('SIGKILL');
    await first.exit();
    expect(secondFailure?.delayMs).toBe(10_000);

    const second = f.supervise(settings, ['exit:1']);
    expect(await second.exit()).toEqual({ exitCode: exitCodes.gaveUp, signal: undefined });

    // The new supervisor waited for what was left of the 10 s before its first worker...
    expect(second.stdout).toMatch(
      /this database remembers 2 worker failures within the last 30s \(2 in a row\); the worker starts in [\d.]+m?s\./,
    );
    const starts = f.eventsOf('worker-started');
    expect(starts).toHaveLength(3);
    expect((starts[2]?.at ?? 0) - (secondFailure?.at ?? 0)).toBeGreaterThanOrEqual(10_000);
    // ...and its first failure was the third in a row and the third within the interval: it gave up.
    expect(second.stderr).toContain('supervisor gave up: 3 worker failures within 30s');
    expect(f.eventsOf('gave-up')).toEqual([expect.objectContaining({ delayMs: 20_000, supervisorPid: second.pid })]);
  });

  it('makes a supervisor started after a give-up wait, and give up at the next failure', async () => {
    const f = fixture();
    const settings = {
      restartSec: '12s',
      restartMaxDelay: '20s',
      startLimitBurst: 2,
      startLimitInterval: '30s',
      listen: `127.0.0.1:${await freeLoopbackPort()}`,
    };
    expect((await f.supervise(settings, ['exit:1']).exit()).exitCode).toBe(exitCodes.gaveUp);
    const [gaveUp] = f.eventsOf('gave-up');
    expect(gaveUp?.delayMs).toBe(12_000);

    const again = f.supervise(settings, ['exit:1']);
    expect((await again.exit()).exitCode).toBe(exitCodes.gaveUp);
    expect(again.stdout).toMatch(/the worker starts in [\d.]+m?s\./);
    const starts = f.eventsOf('worker-started');
    expect(starts).toHaveLength(3);
    expect((starts[2]?.at ?? 0) - (gaveUp?.at ?? 0)).toBeGreaterThanOrEqual(12_000);
  });

  it('is cleared by an operator reset: a running supervisor restarts at once, with the count from zero', async () => {
    const f = fixture();
    const run = f.supervise({ restartSec: '30s', restartMaxDelay: '5m', startLimitBurst: 5, startLimitInterval: '10m' }, [
      'exit:1',
      'exit:1',
      'serve',
    ]);
    await f.waitForEvents('worker-failed', 2, 40_000);
    await sleep(300);
    expect(f.eventsOf('worker-started')).toHaveLength(2);

    const ledger = await openSqliteLedger(f.dbPath, {
      clock: Date.now,
      policy: {
        restartSecMs: 30_000,
        restartMaxDelayMs: 300_000,
        stableAfterMs: 60_000,
        startLimitBurst: 5,
        startLimitIntervalMs: 600_000,
      },
    });
    try {
      expect(await ledger.clear('test', 'fixed it')).toMatchObject({ failuresInInterval: 2, consecutiveFailures: 2, restartWasDue: true });
      await f.waitForEvents('worker-ready', 1, 20_000);
      expect(await ledger.summary()).toMatchObject({ failuresInInterval: 0, consecutiveFailures: 0, gaveUp: false });
    } finally {
      await ledger.close();
    }
    await run.waitForOutput(/the restart history was cleared; starting the worker now/);
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });
});
