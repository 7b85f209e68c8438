import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../src/kernel/log.js';
import { openDatabase } from '../../../src/store/sqlite/open.js';
import { ProxyHarness, anthropicBody, postJson } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

interface JsonLine {
  time: string;
  level: string;
  event: string;
  message: string;
  repeated?: number;
  sinceMs?: number;
}

/** A real proxy whose JSON log lines are kept, with its database locked by another connection: every request is answered 503. */
async function lockedProxy(
  logRepeatInterval: string,
): Promise<{ lines: () => JsonLine[]; url: string; close(): Promise<void>; unlock(): void }> {
  const written: string[] = [];
  const log = createLogger('json', (line) => void written.push(line));
  const sim = await harness.sim();
  const { proxy, dbPath } = await harness.proxy(
    { upstream: sim.url, provider: 'anthropic', logFormat: 'json', logRepeatInterval },
    { log, busyTimeoutMs: 10 },
  );
  const locker = openDatabase(dbPath);
  locker.exec('BEGIN EXCLUSIVE');
  return {
    // Every line is one JSON object: parseable as it is written.
    lines: () =>
      written
        .join('')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as JsonLine),
    url: proxy.url,
    close: () => proxy.close(),
    unlock: () => {
      locker.exec('ROLLBACK');
      locker.close();
    },
  };
}

async function refuseAll(url: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const answer = await postJson(`${url}/v1/messages`, anthropicBody());
    expect(answer.status).toBe(503);
    await answer.arrayBuffer();
  }
}

/** The ticker's own line when it finds the store unwritable: a state change, logged once. */
const tickerNotice = /^the rate-limit store cannot be written .*; requests are answered 503 until it can be written again$/;

/** The per-request 503 lines and their summaries, without the ticker's notice. */
const storeLines = (lines: JsonLine[]): JsonLine[] =>
  lines.filter((line) => line.event === 'store-unavailable' && !tickerNotice.test(line.message));

describe('a flood of refused requests does not flood the log', () => {
  it('logs the first 503 at once and the repeats as one summary line with the count', async () => {
    const proxy = await lockedProxy('10m');
    await refuseAll(proxy.url, 40);
    const first = storeLines(proxy.lines());
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ level: 'error', message: expect.stringMatching(/answered 503/) });
    expect(first[0]?.repeated).toBeUndefined();

    proxy.unlock();
    await proxy.close();
    const lines = storeLines(proxy.lines());
    expect(lines).toHaveLength(2);
    const summary = lines[1] as JsonLine;
    expect(summary.repeated).toBe(39);
    expect(summary.message).toMatch(/^store-unavailable ×39 more in the last \d+(\.\d)?m?s; the last: POST \/v1\/messages answered 503/);
    expect(summary.level).toBe('error');
  });

  it('logs the ticker’s notice that the store cannot be written as its own line, not folded into the requests’ summary', async () => {
    const proxy = await lockedProxy('10m');
    // The first 503 opens a summary interval of ten minutes; the ticker meets the lock at its next tick.
    await refuseAll(proxy.url, 3);
    await vi.waitFor(() => expect(proxy.lines().filter((line) => tickerNotice.test(line.message))).toHaveLength(1), {
      timeout: 10_000,
      interval: 50,
    });
    const notice = proxy.lines().find((line) => tickerNotice.test(line.message));
    expect(notice).toMatchObject({ level: 'error', event: 'store-unavailable' });
    expect(notice?.repeated).toBeUndefined();
    proxy.unlock();
  });

  it('summarises once per interval while the flood lasts', async () => {
    const proxy = await lockedProxy('300ms');
    await refuseAll(proxy.url, 10);
    // The summary comes when the interval ends, with no request to carry it.
    await vi.waitFor(() => expect(storeLines(proxy.lines()).some((line) => line.repeated !== undefined)).toBe(true), {
      timeout: 10_000,
      interval: 50,
    });
    const [first, summary] = storeLines(proxy.lines());
    expect(first?.repeated).toBeUndefined();
    expect(summary?.repeated).toBeGreaterThanOrEqual(1);
    expect(summary?.sinceMs).toBeGreaterThanOrEqual(300);
    proxy.unlock();
  });

  it('with --log-repeat-interval 0 logs every one', async () => {
    const proxy = await lockedProxy('0');
    await refuseAll(proxy.url, 5);
    expect(storeLines(proxy.lines()).filter((line) => /answered 503/.test(line.message)).length).toBe(5);
    proxy.unlock();
  });
});
