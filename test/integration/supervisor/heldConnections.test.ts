// Restarts as short as durable state allows (issue 20): the first restart after a stable run is
// immediate, and while no worker is up for a short while the supervisor holds new connections and
// hands them to the next worker instead of answering 503. Stand-in workers say who answered.
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { send } from '../../helpers/httpProbe.js';
import { eventually, useSupervisorFixtures, type SupervisorFixture } from '../../helpers/supervisorHarness.js';

const fixture = useSupervisorFixtures();

function publicUrl(f: SupervisorFixture): string {
  const ready = f.eventsOf('worker-ready').at(-1);
  if (typeof ready?.detail !== 'string') throw new Error('no worker is ready');
  return ready.detail;
}

/** A connection that is open (in the supervisor's accept queue, in this order) before the next one is made. */
function openConnection(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends one request on an open connection and reads the whole answer (the status line and the headers that matter here). */
function ask(
  socket: Socket,
  path: string,
): Promise<{ status: number; reason: string | null; retryAfterMs: string | null; standInPid: number | null }> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.once('error', reject);
    socket.once('end', () => {
      const header = (name: string): string | null => new RegExp(`^${name}: (.*)$`, 'im').exec(text)?.[1]?.trim() ?? null;
      const pid = header('x-stand-in-pid');
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0),
        reason: header('x-ratewarden-reason'),
        retryAfterMs: header('retry-after-ms'),
        standInPid: pid === null ? null : Number(pid),
      });
    });
    socket.write(`GET ${path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n`);
  });
}

describe('restarts that cost the clients nothing', () => {
  it('restarts at once after the first failure at the default restart settings: a connection made while no worker is up is answered by the next worker', async () => {
    const f = fixture();
    // Default restart-sec (10 s), stable-after and restart-hold; the next worker takes 1.5 s to be ready.
    const run = f.supervise({}, ['ready-exit:1:300', 'slow-ready:1500']);
    await f.waitForEvents('worker-failed', 1);
    const url = publicUrl(f);
    const answer = await send(url, '/v1/anything');
    const [, next] = f.workerPids();
    expect(answer).toMatchObject({ kind: 'answer', status: 404, standInPid: next });
    expect(f.eventsOf('worker-failed')).toEqual([expect.objectContaining({ cause: 'exit-code', delayMs: 0 })]);
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });

  it('holds connections during a crash-loop delay within --restart-hold and hands them to the next worker', async () => {
    const f = fixture();
    const run = f.supervise({ restartSec: '2s', restartHold: '5s', stableAfter: '1h' }, ['ready-exit:1:300', 'ready-exit:1:300', 'serve']);
    const [, second] = await f.waitForEvents('worker-failed', 2);
    expect(second?.delayMs).toBe(2_000);
    const url = publicUrl(f);
    const answers = await Promise.all([send(url, '/v1/anything'), send(url, '/v1/other')]);
    const third = f.workerPids()[2];
    for (const answer of answers) expect(answer).toMatchObject({ kind: 'answer', status: 404, standInPid: third });
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });

  it('answers 503 restarting with a retry time once more connections wait than --restart-hold-connections; those held are answered by the next worker', async () => {
    const f = fixture();
    const run = f.supervise({ restartHoldConnections: 2 }, ['ready-exit:1:300', 'slow-ready:3000']);
    await f.waitForEvents('worker-failed', 1);
    const url = publicUrl(f);
    const first = await openConnection(url);
    const second = await openConnection(url);
    const third = await openConnection(url);
    const overflow = await ask(third, '/v1/anything');
    expect(overflow).toMatchObject({ status: 503, reason: 'restarting', standInPid: null });
    expect(Number(overflow.retryAfterMs)).toBeGreaterThan(0);
    const next = await eventually('the second worker to start', () => f.workerPids()[1]);
    for (const held of await Promise.all([ask(first, '/v1/a'), ask(second, '/v1/b')]))
      expect(held).toMatchObject({ status: 404, standInPid: next });
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });

  it('hands a connection given to a hung worker (SIGSTOP), which never took it, to the next worker when the hung one is killed', async () => {
    const f = fixture();
    // Liveness gives up on the hung worker after about three seconds: long after the request below reached it.
    const run = f.supervise({ livenessInterval: '1s', livenessMisses: 3, stableAfter: '1h' }, ['stop:200', 'serve']);
    await f.waitForEvents('worker-ready', 1, 30_000);
    const [hung] = f.workerPids();
    await eventually('the worker to be stopped', () =>
      /^\d+ \(.*\) T /.test(readFileSync(`/proc/${hung}/stat`, 'utf8')) ? true : undefined,
    );
    const answer = await send(publicUrl(f), '/v1/anything');
    const [, next] = f.workerPids();
    expect(answer).toMatchObject({ kind: 'answer', status: 404, standInPid: next });
    expect(f.eventsOf('worker-failed')).toEqual([expect.objectContaining({ workerPid: hung, cause: 'liveness' })]);
    run.kill('SIGTERM');
    expect((await run.exit()).exitCode).toBe(0);
  });
});
