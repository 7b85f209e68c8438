// The supervisor owns the listening socket (issue 12): the real worker through the built CLI
// (run `npm run build` first), and stand-in workers for the states that are hard to reach with it.
import { afterEach, describe, expect, it } from 'vitest';
import { exitCodes } from '../../../src/kernel/exitCodes.js';
import { startSimUpstream, type SimUpstream } from '../../../src/sim/upstream.js';
import { send, type Outcome } from '../../helpers/httpProbe.js';
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

function fixture(): SupervisorFixture {
  const made = new SupervisorFixture(scratch.make('ratewarden-socket-'));
  fixtures.push(made);
  return made;
}

const message = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });

function publicUrl(f: SupervisorFixture): string {
  const ready = f.eventsOf('worker-ready').at(-1);
  if (typeof ready?.detail !== 'string') throw new Error('no worker is ready');
  return ready.detail;
}

function describeOutcome(outcome: Outcome): string {
  return outcome.kind === 'error' ? `error ${outcome.code}` : `${outcome.status} ${outcome.reason ?? ''}`;
}

describe('the socket the supervisor owns, with the real worker', () => {
  it('restarts at once after a SIGKILL at the default settings: what is sent while no worker is up waits and is forwarded by the next one, none refused, no 503', async () => {
    const f = fixture();
    const sim = await startSimUpstream();
    sims.push(sim);
    const run = f.ratewarden(['run', '--db', f.dbPath, '--upstream', sim.url, '--provider', 'anthropic', '--listen', '127.0.0.1:0']);
    const [first] = await f.waitForEvents('worker-ready', 1, 20_000);
    const url = publicUrl(f);

    // Client B keeps sending, whatever happens; client A sends one request at a time around the kill.
    let sending = true;
    const background: Outcome[] = [];
    const clientB = (async () => {
      while (sending) background.push(await send(url, '/v1/messages', 'POST', message));
    })();

    const strict: Outcome[] = [];
    for (let i = 0; i < 3; i++) strict.push(await send(url, '/v1/messages', 'POST', message));
    process.kill(first?.workerPid as number, 'SIGKILL');
    // A's next requests go out once the worker is gone: none of them can have been in its hands.
    await eventually('the worker to be gone', () => (isAlive(first?.workerPid as number) ? undefined : true), 10_000);
    const goneAt = Date.now();
    for (let i = 0; i < 3; i++) strict.push(await send(url, '/v1/messages', 'POST', message));
    sending = false;
    await clientB;

    expect(f.eventsOf('worker-failed')).toEqual([expect.objectContaining({ cause: 'signal', signal: 'SIGKILL', delayMs: 0 })]);
    expect(f.eventsOf('worker-ready')).toHaveLength(2);
    // Every request of A was forwarded: the one sent while no worker was up waited for the next.
    for (const outcome of strict) expect(describeOutcome(outcome)).toBe('200 ');
    // Client B: never refused, never 503; only a request the dying worker already held may have been cut.
    for (const outcome of background) {
      if (outcome.kind === 'error') expect(outcome.sentAt, `${outcome.code} sent after the worker was gone`).toBeLessThanOrEqual(goneAt);
      else expect(describeOutcome(outcome)).toBe('200 ');
    }
    expect(background.length).toBeGreaterThan(0);

    // Nothing the supervisor held reached the upstream twice: it saw exactly the forwarded ones, and at most those cut in flight.
    const forwarded = [...strict, ...background].filter((outcome) => outcome.kind === 'answer' && outcome.status === 200).length;
    expect(sim.stats().requests).toBeGreaterThanOrEqual(forwarded);
    expect(sim.stats().requests - forwarded).toBeLessThanOrEqual(background.filter((outcome) => outcome.kind === 'error').length);

    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
    // A clean stop closes the socket.
    expect(await send(url, '/v1/messages', 'POST', message)).toMatchObject({ kind: 'error', code: 'ECONNREFUSED' });
  });
  it('loses no connection while a worker takes the socket over: clients that never stop sending around three starts each get an answer', async () => {
    const f = fixture();
    const sim = await startSimUpstream();
    sims.push(sim);
    // No connection is held at the door: it answers 503 at once while no worker is up, so that
    // the clients keep connecting through every start, while the worker begins to accept.
    const run = f.ratewarden([
      'run',
      '--db',
      f.dbPath,
      '--upstream',
      sim.url,
      '--provider',
      'anthropic',
      '--listen',
      '127.0.0.1:0',
      '--restart-hold-connections',
      '0',
    ]);
    const url = await eventually('the supervisor to say where it listens', () => runUrl(f), 20_000);
    let sending = true;
    const outcomes: Outcome[] = [];
    const clients = Array.from({ length: 6 }, async () => {
      while (sending) outcomes.push(await send(url, '/v1/messages', 'POST', message, 10_000));
    });
    const kills: number[] = [];
    for (let start = 1; start <= 3; start++) {
      const [ready] = (await f.waitForEvents('worker-ready', start, 30_000)).slice(-1);
      if (start === 3) break;
      kills.push(Date.now());
      process.kill(ready?.workerPid as number, 'SIGKILL');
    }
    sending = false;
    await Promise.all(clients);

    // A killed worker may reset what it held: a request sent before the kill and cut after it.
    // A connection nobody answers, or one reset with no kill while it was out, is lost.
    const cutByKill = (outcome: Outcome): boolean =>
      outcome.kind === 'error' &&
      ['ECONNRESET', 'EPIPE'].includes(outcome.code) &&
      kills.some((at) => outcome.sentAt <= at && at <= outcome.receivedAt);
    const lost = outcomes.filter((outcome) => outcome.kind === 'error' && !cutByKill(outcome));
    expect(lost).toEqual([]);
    expect(outcomes.filter((outcome) => outcome.kind === 'answer' && outcome.status === 200).length).toBeGreaterThan(0);
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });
});

describe('the socket the supervisor owns, with stand-in workers', () => {
  const fast = { restartSec: '50ms', restartMaxDelay: '400ms', startLimitBurst: 20, startLimitInterval: '30s' };

  it('lets a connection that arrives while the worker starts wait for it, instead of refusing it', async () => {
    const f = fixture();
    const run = f.supervise(fast, ['slow-ready:1500']);
    const [started] = await f.waitForEvents('worker-started', 1);
    const url = await eventually('the supervisor to say where it listens', () => runUrl(f), 10_000);
    const early = await send(url, '/anything');
    expect(early).toMatchObject({ kind: 'answer', status: 404 });
    expect((early as { receivedAt: number }).receivedAt).toBeGreaterThanOrEqual((started?.at as number) + 1_500);
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });

  it('answers 503 restarting with the time the next worker is due during a restart delay longer than --restart-hold, then serves the new worker', async () => {
    const f = fixture();
    // The first failure restarts at once; the second, a crash loop, waits restart-sec: longer than the hold.
    const run = f.supervise({ ...fast, restartSec: '3s', restartMaxDelay: '3s', restartHold: '500ms' }, [
      'ready-exit:1:300',
      'ready-exit:1:300',
      'serve',
    ]);
    const [, failure] = await f.waitForEvents('worker-failed', 2);
    const url = publicUrl(f);
    const during = await send(url, '/v1/anything', 'POST', '{}');
    expect(during).toMatchObject({ kind: 'answer', status: 503, reason: 'restarting' });
    const ms = Number((during as { retryAfterMs: string }).retryAfterMs);
    expect(ms).toBeLessThanOrEqual(3_000);
    expect((during as { sentAt: number }).sentAt + ms).toBeLessThanOrEqual((failure?.at as number) + 3_000 + 500);
    expect(JSON.parse((during as { body: string }).body)).toMatchObject({ error: { type: 'overloaded' } });
    expect(f.workerPids()).toHaveLength(2);
    await f.waitForEvents('worker-ready', 3);
    expect(await send(url, '/v1/anything')).toMatchObject({ kind: 'answer', status: 404 });
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
    expect(await send(url, '/v1/anything')).toMatchObject({ kind: 'error', code: 'ECONNREFUSED' });
  });

  it('answers 503 gave-up to what waits when it gives up, then closes the socket', async () => {
    const f = fixture();
    const run = f.supervise({ ...fast, startLimitBurst: 1, startTimeout: '3s' }, ['never-ready']);
    await f.waitForEvents('worker-started', 1);
    const url = await eventually('the supervisor to say where it listens', () => runUrl(f), 10_000);
    const waiting = await send(url, '/v1/anything');
    expect(waiting).toMatchObject({ kind: 'answer', status: 503, reason: 'gave-up' });
    expect(Number((waiting as { retryAfterMs: string }).retryAfterMs)).toBeGreaterThan(0);
    expect(await run.exit()).toEqual({ exitCode: exitCodes.gaveUp, signal: undefined });
    expect(await send(url, '/v1/anything')).toMatchObject({ kind: 'error', code: 'ECONNREFUSED' });
  });
});

/** The address in the supervisor's heartbeat row, as a URL. */
function runUrl(f: SupervisorFixture): string | undefined {
  const listen = f.processes('supervisor')[0]?.listen;
  return listen === undefined || listen === null ? undefined : `http://${listen}`;
}
