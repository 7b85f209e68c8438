// The supervisor with the real proxy worker, through the built CLI (run `npm run build` first).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimUpstream, type SimUpstream, type SimUpstreamOptions } from '../../../src/sim/upstream.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';
import { eventually, isAlive, SupervisorFixture } from '../../helpers/supervisorHarness.js';

const scratch = new ScratchDirs();
const fixtures: SupervisorFixture[] = [];
const sims: SimUpstream[] = [];

afterEach(async () => {
  for (const fixture of fixtures.splice(0)) await fixture.cleanUp();
  for (const sim of sims.splice(0)) await sim.close();
  scratch.removeAll();
});

async function setUp(options: SimUpstreamOptions = {}): Promise<{ f: SupervisorFixture; sim: SimUpstream }> {
  const f = new SupervisorFixture(scratch.make('ratewarden-supervisor-'));
  fixtures.push(f);
  const sim = await startSimUpstream(options);
  sims.push(sim);
  return { f, sim };
}

async function get(url: string): Promise<{ status: number; reason: string | null }> {
  const response = await fetch(url, { headers: { connection: 'close' } });
  await response.arrayBuffer();
  return { status: response.status, reason: response.headers.get('x-ratewarden-reason') };
}

/** The URL the newest ready worker listens on. */
function workerUrl(f: SupervisorFixture): string {
  const ready = f.eventsOf('worker-ready').at(-1);
  if (ready?.detail === undefined || ready.detail === null) throw new Error('no worker is ready');
  return ready.detail;
}

describe('the real proxy worker under the supervisor', () => {
  it('is restarted at once when killed with SIGKILL during a cooldown, and is still cooling', async () => {
    // Its 429s say nothing of when to retry (no retry-after, headers with room): the 30 s ladder applies.
    const { f, sim } = await setUp({ retryAfterMode: 'none' });
    const run = f.ratewarden([
      'run',
      '--db',
      f.dbPath,
      '--upstream',
      sim.url,
      '--listen',
      '127.0.0.1:0',
      '--backoff-base',
      '30s',
      '--backoff-max',
      '30s',
    ]);
    await f.waitForEvents('worker-ready', 1, 20_000);

    sim.setMode('always-429');
    expect(await get(`${workerUrl(f)}/v1/anything`)).toEqual({ status: 429, reason: null });
    expect(await get(`${workerUrl(f)}/v1/anything`)).toEqual({ status: 429, reason: 'cooldown' });
    const upstreamRequests = sim.stats().requests;
    expect(upstreamRequests).toBe(1);

    const [first] = f.eventsOf('worker-ready');
    process.kill(first?.workerPid as number, 'SIGKILL');
    const [, second] = await f.waitForEvents('worker-ready', 2, 20_000);
    const [failure] = f.eventsOf('worker-failed');
    expect(failure).toMatchObject({ workerPid: first?.workerPid, cause: 'signal', signal: 'SIGKILL', delayMs: 0 });
    expect(second?.workerPid).not.toBe(first?.workerPid);

    // The new worker remembers: local 429s, and the upstream hears nothing.
    for (let i = 0; i < 3; i++) expect(await get(`${workerUrl(f)}/v1/anything`)).toEqual({ status: 429, reason: 'cooldown' });
    expect(sim.stats().requests).toBe(upstreamRequests);

    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
    expect(run.stdout).toContain(`[worker ${second?.workerPid}]`);
  });

  it('leaves no worker holding the port when the supervisor is killed with SIGKILL', async () => {
    const { f, sim } = await setUp();
    const run = f.ratewarden(['run', '--db', f.dbPath, '--upstream', sim.url, '--listen', '127.0.0.1:0']);
    const [ready] = await f.waitForEvents('worker-ready', 1, 20_000);
    const url = workerUrl(f);
    expect((await get(`${url}/_ratewarden/health`)).status).toBe(200);

    run.kill('SIGKILL');
    await run.exit();
    await eventually('the worker to exit', () => (isAlive(ready?.workerPid as number) ? undefined : true), 10_000);
    await expect(fetch(`${url}/_ratewarden/health`)).rejects.toThrow();
    // Nobody restarted it either.
    await sleep(300);
    expect(f.eventsOf('worker-started')).toHaveLength(1);
  });
});
