import { describe, expect, it } from 'vitest';
import { eventually, isAlive, useSupervisorFixtures } from '../../helpers/supervisorHarness.js';

const fixture = useSupervisorFixtures();

const fast = { restartSec: '50ms', restartMaxDelay: '400ms', startLimitBurst: 20, startLimitInterval: '30s' };

describe('stopping', () => {
  it('passes SIGTERM on to the worker, does not restart it, and exits 0; its heartbeat row goes with it', async () => {
    const f = fixture();
    const run = f.supervise(fast, ['serve']);
    await f.waitForEvents('worker-ready', 1);
    const [worker] = f.workerPids();
    expect(f.processes('supervisor')).toEqual([expect.objectContaining({ pid: run.pid })]);
    run.kill('SIGTERM');
    expect(await run.exit()).toEqual({ exitCode: 0, signal: undefined });
    expect(isAlive(worker as number)).toBe(false);
    expect(f.workerPids()).toHaveLength(1);
    // A clean stop takes the supervisor's heartbeat row away.
    expect(f.processes('supervisor')).toEqual([]);
    expect(f.events().at(-1)).toMatchObject({
      kind: 'supervisor-stopped',
      detail: `stopped on SIGTERM: worker ${worker} ended with exit code 0`,
    });
    expect(f.eventsOf('worker-failed')).toEqual([]);
  });

  it('stops during a restart delay without starting another worker', async () => {
    const f = fixture();
    // The first failure restarts at once; the second waits restart-sec.
    const run = f.supervise({ ...fast, restartSec: '20s', restartMaxDelay: '20s' }, ['exit:1']);
    await f.waitForEvents('worker-failed', 2);
    run.kill('SIGINT');
    expect(await run.exit()).toEqual({ exitCode: 0, signal: undefined });
    expect(f.workerPids()).toHaveLength(2);
    expect(f.events().at(-1)).toMatchObject({ kind: 'supervisor-stopped', detail: 'stopped on SIGINT while waiting to start the worker' });
  });

  it('escalates to SIGKILL after the stop timeout for a worker that ignores SIGTERM', async () => {
    const f = fixture();
    const run = f.supervise({ ...fast, stopTimeout: '300ms' }, ['ignore-sigterm']);
    await f.waitForEvents('worker-ready', 1);
    const [worker] = f.workerPids();
    run.kill('SIGTERM');
    expect(await run.exit()).toEqual({ exitCode: 0, signal: undefined });
    expect(isAlive(worker as number)).toBe(false);
    expect(run.stdout).toContain(`[worker ${worker}] stand-in ignores SIGTERM`);
    expect(f.events().at(-1)).toMatchObject({
      kind: 'supervisor-stopped',
      detail: `stopped on SIGTERM: worker ${worker} ended with signal SIGKILL, SIGKILL after the stop timeout`,
    });
  });

  it('stops at once on a second Ctrl-C', async () => {
    const f = fixture();
    const run = f.supervise({ ...fast, stopTimeout: '5m' }, ['ignore-sigterm']);
    await f.waitForEvents('worker-ready', 1);
    const [worker] = f.workerPids();
    run.kill('SIGINT');
    await run.waitForOutput(/stand-in ignores SIGTERM/);
    run.kill('SIGINT');
    expect(await run.exit()).toEqual({ exitCode: 0, signal: undefined });
    expect(isAlive(worker as number)).toBe(false);
    expect(f.events().at(-1)?.detail).toBe(
      `stopped on SIGINT: worker ${worker} ended with signal SIGKILL, SIGKILL on a second stop signal`,
    );
  });

  it('leaves no orphan when the supervisor itself is killed with SIGKILL', async () => {
    const f = fixture();
    const run = f.supervise(fast, ['serve']);
    await f.waitForEvents('worker-ready', 1);
    const [worker] = f.workerPids();
    run.kill('SIGKILL');
    expect((await run.exit()).signal).toBe('SIGKILL');
    await eventually('the worker to notice and exit', () => (isAlive(worker as number) ? undefined : true), 5_000);
  });
});
