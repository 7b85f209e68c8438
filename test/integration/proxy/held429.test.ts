import { afterEach, describe, expect, it } from 'vitest';
import { heldFilePathFor, heldFilesOf } from '../../../src/store/held429File.js';
import type { Logger } from '../../../src/kernel/log.js';
import { openDatabase } from '../../../src/store/sqlite/open.js';
import { ProxyHarness, anthropicBody, postJson, readRows } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

/** A logger that keeps every event and lets a test wait for one: the handshake, instead of a sleep. */
function recordingLogger(): Logger & { events: string[]; next(event: string): Promise<void> } {
  const events: string[] = [];
  const waiting: { event: string; resolve: () => void }[] = [];
  const emit = (event: string): void => {
    events.push(event);
    for (const waiter of waiting.filter((entry) => entry.event === event)) {
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve();
    }
  };
  return {
    events,
    info: emit,
    warn: emit,
    error: emit,
    next: (event) => new Promise<void>((resolve) => waiting.push({ event, resolve })),
  };
}

/** An upstream that answers 429 (Retry-After in seconds) only when the test says so: `arrival` resolves once a request is there. */
async function gated429Upstream(
  retryAfterSeconds: number,
): Promise<{ upstream: { url: string }; arrival: Promise<void>; answer429: () => void; forwarded: () => number }> {
  let arrived: () => void = () => undefined;
  const arrival = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  let answer429: () => void = () => undefined;
  const release = new Promise<void>((resolve) => {
    answer429 = resolve;
  });
  let forwarded = 0;
  const upstream = await harness.upstream((request, response) => {
    forwarded += 1;
    request.resume();
    arrived();
    void release.then(() => {
      response.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(retryAfterSeconds) });
      response.end('{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}');
    });
  });
  return { upstream, arrival, answer429, forwarded: () => forwarded };
}

describe('an upstream 429 that meets a locked store still takes effect (issue 9 item 2)', () => {
  it('is held while a second connection holds the write lock, refused locally meanwhile, and recorded once the lock is gone', async () => {
    const { upstream, arrival, answer429, forwarded } = await gated429Upstream(20);
    const log = recordingLogger();
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' }, { busyTimeoutMs: 100, log });

    const first = postJson(`${proxy.url}/v1/messages`, anthropicBody());
    await arrival;
    // A real second connection on the real file takes the write lock before the 429 comes back.
    const locker = openDatabase(dbPath);
    try {
      locker.exec('BEGIN IMMEDIATE');
      answer429();
      const upstream429 = await first;
      expect(upstream429.status).toBe(429);
      expect(upstream429.headers.get('x-ratewarden-reason')).toBeNull();
      expect(log.events).toContain('upstream-429-held');

      const whileLocked = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
      expect(whileLocked.status).toBe(429);
      expect(whileLocked.headers.get('x-ratewarden-reason')).toBe('cooldown');
      expect(Number(whileLocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(19);
      expect(readRows(dbPath, 'SELECT * FROM rate_limit_events')).toHaveLength(0);

      const recorded = log.next('upstream-429-recorded');
      locker.exec('ROLLBACK');
      const afterUnlock = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
      expect(afterUnlock.status).toBe(429);
      expect(afterUnlock.headers.get('x-ratewarden-reason')).toBe('cooldown');
      await recorded;
    } finally {
      locker.close();
    }

    const [state] = readRows<{ cooldown_until: number; consecutive_429s: number }>(
      dbPath,
      'SELECT cooldown_until, consecutive_429s FROM limiter_state WHERE scope = (SELECT scope FROM requests ORDER BY id DESC LIMIT 1)',
    );
    expect(state?.consecutive_429s).toBe(1);
    expect(state?.cooldown_until).toBeGreaterThan(Date.now() + 10_000);
    expect(readRows(dbPath, 'SELECT * FROM rate_limit_events')).toHaveLength(1);
    expect(readRows<{ outcome: string }>(dbPath, 'SELECT outcome FROM requests ORDER BY id')[0]?.outcome).toBe('upstream-429');

    const later = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
    expect(later.status).toBe(429);
    expect(later.headers.get('x-ratewarden-reason')).toBe('cooldown');
    expect(forwarded()).toBe(1);
  });

  it('survives a stop while the lock is still held: kept beside the database, the next start records it before forwarding', async () => {
    const { upstream, arrival, answer429, forwarded } = await gated429Upstream(30);
    const log = recordingLogger();
    const first = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' }, { busyTimeoutMs: 100, log });
    const dbPath = first.dbPath;
    const request = postJson(`${first.proxy.url}/v1/messages`, anthropicBody());
    await arrival;
    const locker = openDatabase(dbPath);
    try {
      locker.exec('BEGIN IMMEDIATE');
      answer429();
      expect((await request).status).toBe(429);
      await first.proxy.close(0);
      expect(log.events).toContain('upstream-429-held-over');
      expect(heldFilesOf(heldFilePathFor(dbPath))).toHaveLength(1);
      locker.exec('ROLLBACK');
    } finally {
      locker.close();
    }

    const second = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', db: dbPath });
    expect(heldFilesOf(heldFilePathFor(dbPath))).toHaveLength(0);
    expect(readRows(dbPath, 'SELECT * FROM rate_limit_events')).toHaveLength(1);
    const refused = await postJson(`${second.proxy.url}/v1/messages`, anthropicBody());
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ratewarden-reason')).toBe('cooldown');
    expect(forwarded()).toBe(1);
  });
});
