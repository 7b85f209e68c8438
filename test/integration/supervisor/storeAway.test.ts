// The supervisor survives its store's absence (issue 26): a worker that dies while the SQLite
// file is locked is restarted all the same, and the failure is written once the lock is gone.
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/store/sqlite/open.js';
import { eventually, isAlive, useSupervisorFixtures } from '../../helpers/supervisorHarness.js';

const fixture = useSupervisorFixtures();

describe('the supervisor while its store is away', () => {
  it('restarts a worker that dies while the SQLite file is locked, stays up, and records the failure once the lock is released', async () => {
    const f = fixture();
    const run = f.supervise({ stableAfter: '1h' }, ['serve']);
    await f.waitForEvents('worker-ready', 1, 30_000);
    const [first] = f.workerPids();
    const locker = openDatabase(f.dbPath);
    try {
      locker.exec('BEGIN EXCLUSIVE');
      process.kill(first as number, 'SIGKILL');
      // The next worker starts although nothing can be written: the supervisor decided from the history it knows.
      const second = await eventually('a second worker', () => f.workerPids()[1], 30_000);
      await run.waitForOutput(new RegExp(`worker ${second} ready at`), 30_000);
      await run.waitForOutput(/could not record worker-failed \(.*\); kept in memory, written when the store is back/);
      expect(isAlive(run.pid)).toBe(true);
      locker.exec('ROLLBACK');
    } finally {
      locker.close();
    }
    // Written with the next heartbeat, in the order it happened.
    const [failure] = await f.waitForEvents('worker-failed', 1, 30_000);
    expect(failure).toMatchObject({ workerPid: first, cause: 'signal', signal: 'SIGKILL', delayMs: 0 });
    const kinds = f.events().map((event) => event.kind);
    expect(kinds.indexOf('worker-failed')).toBeLessThan(kinds.lastIndexOf('worker-started'));
    await run.waitForOutput(/the store is back: \d+ supervisor events kept in memory are written/);
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });
});
