import { describe, expect, it } from 'vitest';
import { exitCodes } from '../../../src/kernel/exitCodes.js';
import { useSupervisorFixtures } from '../../helpers/supervisorHarness.js';

const fixture = useSupervisorFixtures();

/** Scaled down: restarts in milliseconds, a burst limit the test does not reach unless it means to. */
const fast = { restartSec: '50ms', restartMaxDelay: '400ms', startLimitBurst: 20, startLimitInterval: '30s', stableAfter: '10s' };

describe('the supervisor restarts on failure only', () => {
  it('does not restart after a clean exit, and exits 0 itself', async () => {
    const f = fixture();
    const run = f.supervise(fast, ['ready-exit:0:100']);
    expect(await run.exit()).toEqual({ exitCode: 0, signal: undefined });
    expect(f.workerPids()).toHaveLength(1);
    expect(f.events().map((event) => event.kind)).toEqual([
      'supervisor-started',
      'worker-started',
      'worker-ready',
      'worker-exited',
      'supervisor-stopped',
    ]);
  });

  it('restarts after exit 1, at once the first time, and records the cause', async () => {
    const f = fixture();
    const run = f.supervise(fast, ['ready-exit:1:100', 'serve']);
    const [, second] = await f.waitForEvents('worker-ready', 2);
    const [failure] = f.eventsOf('worker-failed');
    expect(failure).toMatchObject({
      cause: 'exit-code',
      exitCode: 1,
      signal: null,
      delayMs: 0,
      detail: 'exit code 1',
      workerPid: f.workerPids()[0],
    });
    await run.waitForOutput(/failed \(exit code 1\); restarting at once \(1 in a row/);
    expect(second?.workerPid).toBe(f.workerPids()[1]);
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });

  it('restarts after a signal it did not send', async () => {
    const f = fixture();
    const run = f.supervise(fast, ['serve']);
    await f.waitForEvents('worker-ready', 1);
    const [first] = f.workerPids();
    process.kill(first as number, 'SIGKILL');
    await f.waitForEvents('worker-ready', 2);
    expect(f.eventsOf('worker-failed')).toEqual([
      expect.objectContaining({ cause: 'signal', signal: 'SIGKILL', exitCode: null, workerPid: first }),
    ]);
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });

  it('passes the worker output through, marked with the worker pid', async () => {
    const f = fixture();
    const run = f.supervise(fast, ['serve']);
    await f.waitForEvents('worker-ready', 1);
    const [pid] = f.workerPids();
    await run.waitForOutput(new RegExp(`\\[worker ${pid}\\] stand-in stderr 1`));
    expect(run.stdout).toContain(`[worker ${pid}] stand-in start 1: serve`);
    expect(run.stdout).toMatch(new RegExp(`info supervisor: worker ${pid} ready at http://127\\.0\\.0\\.1:\\d+`));
    run.kill('SIGTERM');
    await run.exit();
  });

  it('passes the worker output through as JSON lines with --log-format json', async () => {
    const f = fixture();
    const run = f.supervise({ ...fast, logFormat: 'json' }, ['serve']);
    await f.waitForEvents('worker-ready', 1);
    const [pid] = f.workerPids();
    await run.waitForOutput(/"stream":"stderr"/);
    run.kill('SIGTERM');
    await run.exit();
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({
        source: 'worker',
        workerPid: pid,
        event: 'worker-output',
        stream: 'stdout',
        message: 'stand-in start 1: serve',
      }),
    );
    expect(lines).toContainEqual(expect.objectContaining({ source: 'supervisor', event: 'worker-ready', workerPid: pid }));
    expect(run.stderr).toMatch(/"message":"stand-in stderr 1"/);
  });
});

describe('the restart delay', () => {
  it('restarts at once after the first failure, then doubles from restart-sec with each further one in a row, up to restart-max-delay', async () => {
    const f = fixture();
    const run = f.supervise({ ...fast, restartSec: '100ms', restartMaxDelay: '400ms' }, [
      'exit:1',
      'exit:1',
      'exit:1',
      'exit:1',
      'exit:1',
      'exit:1',
      'serve',
    ]);
    await f.waitForEvents('worker-ready', 1);
    run.kill('SIGTERM');
    await run.exit();

    const failures = f.eventsOf('worker-failed');
    const starts = f.eventsOf('worker-started');
    expect(failures.map((event) => event.delayMs)).toEqual([0, 100, 200, 400, 400, 400]);
    // Each restart comes after its delay (measured from the recorded events). How much later
    // depends on the machine's load, so the upper bound is only a sanity check, not a speed target.
    failures.forEach((failure, i) => {
      const waited = (starts[i + 1]?.at ?? Number.NaN) - failure.at;
      expect(waited, `restart ${i + 1}`).toBeGreaterThanOrEqual(failure.delayMs as number);
      expect(waited, `restart ${i + 1}`).toBeLessThan((failure.delayMs as number) + 15_000);
    });
  });

  it('restarts at once again once the worker has been ready for stable-after', async () => {
    const f = fixture();
    const run = f.supervise({ ...fast, stableAfter: '300ms' }, ['exit:1', 'exit:1', 'serve']);
    await f.waitForEvents('worker-stable', 1);
    const [, , third] = f.workerPids();
    process.kill(third as number, 'SIGKILL');
    await f.waitForEvents('worker-ready', 2);
    run.kill('SIGTERM');
    await run.exit();
    expect(f.eventsOf('worker-failed').map((event) => event.delayMs)).toEqual([0, 50, 0]);
  });
});

describe('the burst limit', () => {
  it('gives up with exit code 4, one line on stderr, and a gave-up event', async () => {
    const f = fixture();
    const run = f.supervise({ ...fast, startLimitBurst: 3, startLimitInterval: '10s' }, ['exit:1']);
    expect(await run.exit()).toEqual({ exitCode: exitCodes.gaveUp, signal: undefined });
    expect(f.workerPids()).toHaveLength(3);
    const stderrLines = run.stderr.split('\n').filter((line) => line.startsWith('ratewarden:'));
    expect(stderrLines).toEqual([
      'ratewarden: supervisor gave up: 3 worker failures within 10s (start-limit-burst 3), the last: exit code 1; fix the cause, then run "ratewarden reset-restarts" and start again',
    ]);
    expect(f.eventsOf('gave-up')).toEqual([
      expect.objectContaining({ cause: 'exit-code', exitCode: 1, detail: '3 failures within 10s; last: exit code 1' }),
    ]);
  });

  it('warns at start-up, in one line, when the settings make the limit unreachable', async () => {
    const f = fixture();
    const run = f.supervise({ ...fast, restartSec: '1s', restartMaxDelay: '1s', startLimitBurst: 4, startLimitInterval: '2s' }, ['serve']);
    await f.waitForEvents('worker-ready', 1);
    run.kill('SIGTERM');
    await run.exit();
    expect(run.stderr.trim().split('\n')).toEqual([
      'ratewarden: warning: start-limit-burst 4 can never be reached: the 3 restart delays between 4 failures (the first at once, then restart-sec 1s, doubling up to restart-max-delay 1s) add up to 2s, not less than start-limit-interval 2s, so a crash loop would restart forever; raise start-limit-interval, or lower restart-sec or start-limit-burst',
      `[worker ${f.workerPids()[0]}] stand-in stderr 1`,
    ]);
  });
});
