import { describe, expect, it } from 'vitest';
import { eventually, isAlive, useSupervisorFixtures } from '../../helpers/supervisorHarness.js';

const fixture = useSupervisorFixtures();

const fast = { restartSec: '50ms', restartMaxDelay: '400ms', startLimitBurst: 20, startLimitInterval: '30s' };

describe('readiness and liveness', () => {
  it('counts a worker that is not ready within start-timeout as failed, and kills it', async () => {
    const f = fixture();
    const run = f.supervise({ ...fast, startTimeout: '2s' }, ['never-ready', 'serve']);
    await f.waitForEvents('worker-ready', 1, 40_000);
    const [stuck] = f.workerPids();
    expect(f.eventsOf('worker-failed')[0]).toMatchObject({
      workerPid: stuck,
      cause: 'readiness-timeout',
      detail: 'readiness timeout (not ready within 2s)',
      delayMs: 0,
    });
    expect(isAlive(stuck as number)).toBe(false);
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });

  it('counts a worker whose health stops answering as failed, and kills it', async () => {
    const f = fixture();
    const run = f.supervise({ ...fast, livenessInterval: '100ms', livenessMisses: 3 }, ['hang:300', 'serve']);
    const [, second] = await f.waitForEvents('worker-ready', 2);
    const [hung] = f.workerPids();
    const [failure] = f.eventsOf('worker-failed');
    expect(failure).toMatchObject({
      workerPid: hung,
      cause: 'liveness',
      detail: 'liveness failure (3 health probes missed in a row)',
      signal: null,
    });
    expect(second?.workerPid).toBe(f.workerPids()[1]);
    await eventually('the hung worker to be gone', () => (isAlive(hung as number) ? undefined : true));
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });

  it('keeps a worker that answers its probes with 503: it is alive and failing closed, and a restart would only cut its streams', async () => {
    const f = fixture();
    const run = f.supervise({ ...fast, livenessInterval: '100ms', livenessMisses: 2, stableAfter: '1200ms' }, ['failing-closed']);
    // Stable means it outlived many more missed-probe budgets than would have killed it.
    await f.waitForEvents('worker-stable', 1);
    expect(f.eventsOf('worker-failed')).toEqual([]);
    expect(f.workerPids()).toHaveLength(1);
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });

  it('keeps a worker that answers its probes', async () => {
    const f = fixture();
    const run = f.supervise({ ...fast, livenessInterval: '250ms', livenessMisses: 2, stableAfter: '1200ms' }, ['serve']);
    await f.waitForEvents('worker-stable', 1);
    expect(f.eventsOf('worker-failed')).toEqual([]);
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });
});
