import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../src/proxy/log.js';
import { openDatabase } from '../../../src/store/open.js';
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
async function lockedProxy(logRepeatInterval: string): Promise<{ lines: () => JsonLine[]; url: string; close(): Promise<void>; unlock(): void }> {
  const written: string[] = [];
  const log = createLogger('json', (line) => void written.push(line));
  const sim = await harness.sim();
  const { proxy, dbPath } = await harness.proxy({ upstream: sim.url, provider: 'anthropic', logFormat: 'json', logRepeatInterval }, { log, busyTimeoutMs: 10 });
  const locker = openDatabase(dbPath);
  locker.exec('BEGIN EXCLUSIVE');
  return {
    // Every line is one JSON object: parseable as it is written.
    lines: () => written.join('').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as JsonLine),
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

const storeLines = (lines: JsonLine[]): JsonLine[] => lines.filter((line) => line.event === 'store-unavailable');

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
    // 39 more from the requests, and the ticker's own line if a tick met the lock too.
    expect(summary.repeated).toBeGreaterThanOrEqual(39);
    expect(summary.repeated).toBeLessThanOrEqual(40);
    expect(summary.message).toMatch(/^store-unavailable ×(39|40) more in the last \d+(\.\d)?m?s; the last: /);
    expect(summary.level).toBe('error');
  });

  it('summarises once per interval while the flood lasts', async () => {
    const proxy = await lockedProxy('300ms');
    await refuseAll(proxy.url, 10);
    // The summary comes when the interval ends, with no request to carry it.
    await vi.waitFor(() => expect(storeLines(proxy.lines()).some((line) => line.repeated !== undefined)).toBe(true), { timeout: 10_000, interval: 50 });
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
