import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/kernel/log.js';
import { maxHeaderWaitMs } from '../../../src/proxy/providers/headerBounds.js';
import { heldFileFor } from '../../../src/store/openStore.js';
import { heldFilesOf } from '../../../src/store/held429File.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgresDatabase.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';
import { ProxyHarness, anthropicBody, postJson } from '../proxy/harness.js';

/**
 * Issue 26 item 1, on a real PostgreSQL server: an upstream 429 that the store fails to record,
 * for whatever reason, is held (every request refused locally) and never dropped; header values
 * too large for the store's BIGINT columns are clamped before they reach it; a statement
 * timeout is a 503, not a 500.
 */
const harness = new ProxyHarness();
const dirs = new ScratchDirs();
const databases: TestDatabase[] = [];
const clients: pg.Client[] = [];
const savedStateHome = process.env.XDG_STATE_HOME;

beforeAll(() => {
  // A PostgreSQL proxy keeps its held 429s in the local state folder: never the user's own.
  process.env.XDG_STATE_HOME = dirs.make('ratewarden-state-');
});
afterEach(async () => {
  await harness.closeAll();
  for (const connected of clients.splice(0)) await connected.end();
  await Promise.all(databases.splice(0).map((database) => database.drop()));
});
afterAll(() => {
  if (savedStateHome === undefined) delete process.env.XDG_STATE_HOME;
  else process.env.XDG_STATE_HOME = savedStateHome;
  dirs.removeAll();
});

async function client(url: string): Promise<pg.Client> {
  const connected = new pg.Client({ connectionString: url });
  await connected.connect();
  clients.push(connected);
  return connected;
}

async function freshDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase();
  databases.push(database);
  return database;
}

/** A logger that lets a test wait for an event: the handshake, instead of a sleep. */
function waitingLogger(): Logger & { events: string[]; next(event: string): Promise<void> } {
  const events: string[] = [];
  const waiting: { event: string; resolve: () => void }[] = [];
  const emit = (event: string): void => {
    events.push(event);
    for (const waiter of waiting.filter((entry) => entry.event === event)) {
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve();
    }
  };
  return { events, info: emit, warn: emit, error: emit, next: (event) => new Promise<void>((resolve) => waiting.push({ event, resolve })) };
}

/** Answers 200 until armed; then the next request gets a 429 with `headers`, once the test releases it. */
async function upstreamWith429(
  headers: Record<string, string>,
): Promise<{ url: string; arm(): Promise<void>; answer429(): void; forwarded(): number }> {
  let forwarded = 0;
  let armed: { arrived: () => void; release: Promise<void> } | null = null;
  let release: () => void = () => undefined;
  const upstream = await harness.upstream((request, response) => {
    forwarded += 1;
    request.resume();
    const gate = armed;
    armed = null;
    if (gate === null) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ type: 'message', usage: { input_tokens: 5, output_tokens: 5 } }));
      return;
    }
    gate.arrived();
    void gate.release.then(() => {
      response.writeHead(429, { 'content-type': 'application/json', ...headers });
      response.end('{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}');
    });
  });
  return {
    url: upstream.url,
    arm: () =>
      new Promise<void>((arrived) => {
        armed = {
          arrived,
          release: new Promise<void>((resolve) => {
            release = resolve;
          }),
        };
      }),
    answer429: () => release(),
    forwarded: () => forwarded,
  };
}

/** The scope's state after the 429, read as the store wrote it. */
async function cooledScope(url: string): Promise<{ consecutive_429s: number; cooldown_until: string } | undefined> {
  const reader = await client(url);
  return (
    await reader.query<{ consecutive_429s: number; cooldown_until: string }>(
      'SELECT consecutive_429s, cooldown_until::text FROM limiter_state WHERE consecutive_429s > 0',
    )
  ).rows[0];
}

/** One 200, then a 429 that meets `obstacle` (set up while the 429 is on its way) and is answered once it is in place. */
async function fourTwentyNineMeeting(url: string, headers: Record<string, string>, obstacle: () => Promise<void>) {
  const upstream = await upstreamWith429(headers);
  const log = waitingLogger();
  const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', db: url }, { log });
  expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(200);
  const arrival = upstream.arm();
  const pending = postJson(`${proxy.url}/v1/messages`, anthropicBody());
  await arrival;
  await obstacle();
  upstream.answer429();
  expect((await pending).status).toBe(429);
  return { proxy, upstream, log };
}

async function expectRefusedLocally(proxyUrl: string): Promise<Response> {
  const refused = await postJson(`${proxyUrl}/v1/messages`, anthropicBody());
  expect(refused.status).toBe(429);
  expect(refused.headers.get('x-ratewarden-reason')).toBe('cooldown');
  return refused;
}

describe('an upstream 429 is held whatever stops the store recording it (PostgreSQL, issue 26 item 1)', () => {
  it('a statement timeout (57014) while the scope row is locked: held, every request refused, none forwarded, recorded once the lock goes', async () => {
    const database = await freshDatabase();
    // Shorter than the store's own 5 s lock_timeout, as a role's or database's setting can be.
    await (await client(database.url)).query(`ALTER DATABASE ${database.name} SET statement_timeout = '300ms'`);
    const locker = await client(database.url);
    const { proxy, upstream, log } = await fourTwentyNineMeeting(database.url, { 'retry-after': '30' }, async () => {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM limiter_state FOR UPDATE');
    });
    expect(log.events).toContain('upstream-429-held');
    expect(log.events).not.toContain('record-failed');
    const whileLocked = await expectRefusedLocally(proxy.url);
    expect(Number(whileLocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(25);

    const recorded = log.next('upstream-429-recorded');
    await locker.query('ROLLBACK');
    await recorded;
    for (let attempt = 0; attempt < 5; attempt += 1) await expectRefusedLocally(proxy.url);
    expect(upstream.forwarded()).toBe(2);
    expect((await cooledScope(database.url))?.consecutive_429s).toBe(1);
  });

  it('a failure no list foresaw (the server raises on the event row): held, not dropped, and recorded once the server takes it', async () => {
    const database = await freshDatabase();
    const admin = await client(database.url);
    const { proxy, upstream, log } = await fourTwentyNineMeeting(database.url, { 'retry-after': '30' }, async () => {
      await admin.query(
        `CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by a test trigger'; END $$`,
      );
      await admin.query('CREATE TRIGGER refuse_events BEFORE INSERT ON rate_limit_events FOR EACH ROW EXECUTE FUNCTION refuse_events()');
    });
    expect(log.events).toContain('upstream-429-held');
    await expectRefusedLocally(proxy.url);
    expect(proxy.warden.upstream429s.count).toBe(1);

    const recorded = log.next('upstream-429-recorded');
    await admin.query('DROP TRIGGER refuse_events ON rate_limit_events');
    await recorded;
    await expectRefusedLocally(proxy.url);
    expect(upstream.forwarded()).toBe(2);
    expect((await cooledScope(database.url))?.consecutive_429s).toBe(1);
  });

  it('a statement timeout at admission is 503 store-unavailable, not a 500', async () => {
    const database = await freshDatabase();
    await (await client(database.url)).query(`ALTER DATABASE ${database.name} SET statement_timeout = '300ms'`);
    const upstream = await upstreamWith429({});
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', db: database.url });
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(200);
    const locker = await client(database.url);
    await locker.query('BEGIN');
    await locker.query('SELECT 1 FROM limiter_state FOR UPDATE');
    const answer = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
    expect(answer.status).toBe(503);
    expect(answer.headers.get('x-ratewarden-reason')).toBe('store-unavailable');
    await locker.query('ROLLBACK');
    expect(upstream.forwarded()).toBe(1);
  });

  it('20+-digit retry-after, retry-after-ms and resets in the year 9999 are clamped to a day: recorded (no BIGINT overflow), and the local 429 says a finite wait', async () => {
    const database = await freshDatabase();
    const huge = '9'.repeat(25);
    const { proxy, upstream, log } = await fourTwentyNineMeeting(
      database.url,
      {
        'retry-after': huge,
        'retry-after-ms': huge,
        'anthropic-ratelimit-tokens-limit': huge,
        'anthropic-ratelimit-tokens-remaining': '0',
        'anthropic-ratelimit-tokens-reset': '9999-12-31T23:59:59Z',
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': '9999-12-31T23:59:59Z',
      },
      async () => undefined,
    );
    expect(log.events).toContain('cooldown-start');
    expect(log.events).not.toContain('upstream-429-held');
    expect(proxy.warden.upstream429s.count).toBe(0);
    const state = await cooledScope(database.url);
    expect(state?.consecutive_429s).toBe(1);
    expect(Number(state?.cooldown_until)).toBeLessThanOrEqual(Date.now() + maxHeaderWaitMs);
    const refused = await expectRefusedLocally(proxy.url);
    const seconds = Number(refused.headers.get('retry-after'));
    expect(Number.isSafeInteger(seconds)).toBe(true);
    expect(seconds).toBeLessThanOrEqual(maxHeaderWaitMs / 1000);
    expect(seconds).toBeGreaterThan(maxHeaderWaitMs / 1000 - 60);
    expect(upstream.forwarded()).toBe(2);
  });

  it('a host that only uses PostgreSQL keeps a held 429 across a stop: the state folder is made, and the next start records it before forwarding (item 2)', async () => {
    const stateHome = join(dirs.make('ratewarden-nostate-'), 'state-not-made-yet');
    process.env.XDG_STATE_HOME = stateHome;
    const database = await freshDatabase();
    const admin = await client(database.url);
    const { proxy, upstream, log } = await fourTwentyNineMeeting(database.url, { 'retry-after': '30' }, async () => {
      await admin.query(
        `CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by a test trigger'; END $$`,
      );
      await admin.query('CREATE TRIGGER refuse_events BEFORE INSERT ON rate_limit_events FOR EACH ROW EXECUTE FUNCTION refuse_events()');
    });
    expect(log.events).toContain('upstream-429-held');
    await proxy.close(0);
    const base = heldFileFor(database.url, join(stateHome, 'ratewarden'));
    expect(existsSync(join(stateHome, 'ratewarden'))).toBe(true);
    expect(heldFilesOf(base)).toHaveLength(1);

    await admin.query('DROP TRIGGER refuse_events ON rate_limit_events');
    const again = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', db: database.url });
    expect(again.proxy.warden.upstream429s.count).toBe(0);
    expect(heldFilesOf(base)).toHaveLength(0);
    await expectRefusedLocally(again.proxy.url);
    expect(upstream.forwarded()).toBe(2);
    expect((await cooledScope(database.url))?.consecutive_429s).toBe(1);
  });
});
