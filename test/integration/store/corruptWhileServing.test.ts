import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/kernel/log.js';
import { openDatabase } from '../../../src/store/sqlite/open.js';
import { ProxyHarness, anthropicBody, postJson } from '../proxy/harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

/** Scribbles over every b-tree page but the first (the header and the schema stay valid). */
function scribble(path: string): void {
  const bytes = readFileSync(path);
  const pageSize = bytes.readUInt16BE(16);
  const fd = openSync(path, 'r+');
  try {
    for (let offset = pageSize; offset < bytes.length; offset += 97) writeSync(fd, Buffer.from([0xa5]), 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

describe('corruption found while serving (issue 9 item 11)', () => {
  it('fails closed with 503, logs it once without a stack, and the ticker keeps running', async () => {
    const sim = await harness.sim();
    const logged: { level: string; event: string; message: string }[] = [];
    let sawCorruption: () => void = () => undefined;
    const corruptionLogged = new Promise<void>((resolve) => {
      sawCorruption = resolve;
    });
    // The per-request 503 lines ("POST /v1/messages answered 503: …") are the log-flood item's; the ticker's line is this one's.
    const perRequest = /^[A-Z]+ \S+ answered 503:/;
    const entry = (level: string) => (event: string, message: string) => {
      logged.push({ level, event, message });
      if (event === 'store-unavailable' && !perRequest.test(message)) sawCorruption();
    };
    const log: Logger = { info: entry('info'), warn: entry('warn'), error: entry('error') };
    const { proxy, dbPath } = await harness.proxy({ upstream: sim.url, provider: 'anthropic', window: '2s' }, { log });
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(200);

    // Every page into the main file, then damage it, then a one-page commit by a second
    // connection, which makes the proxy's connection drop its cache and read the damaged pages.
    const other = openDatabase(dbPath);
    try {
      other.pragma('wal_checkpoint(TRUNCATE)');
      scribble(dbPath);
      other.pragma(`user_version = ${other.pragma('user_version', { simple: true }) as number}`);
    } finally {
      other.close();
    }

    const refused = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
    expect(refused.status).toBe(503);
    expect(refused.headers.get('x-ratewarden-reason')).toBe('store-unavailable');
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain(`database ${dbPath} is corrupt`);
    const health = await fetch(`${proxy.url}/_ratewarden/health`);
    expect(health.status).toBe(503);
    await corruptionLogged;
    // The ticker is still alive: a further request is refused the same way, never forwarded.
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(503);
    expect(sim.stats().requests).toBe(1);

    const tickerLines = logged.filter((line) => line.event === 'store-unavailable' && !perRequest.test(line.message));
    expect(tickerLines).toHaveLength(1);
    expect(tickerLines[0]?.message).toMatch(/corrupt.*move the file aside/);
    for (const line of logged) {
      expect(line.message).not.toContain('\n');
      expect(line.message).not.toMatch(/\bat .*\.ts:\d+/);
    }
    expect(logged.map((line) => line.event)).not.toContain('request-failed');
  });
});
