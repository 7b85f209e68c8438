import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultLimiterPolicy } from '../../../src/core/types.js';
import { StoreError } from '../../../src/store/errors.js';
import { markerPathFor, readMarker } from '../../../src/store/sqlite/identity.js';
import { startNewDatabase } from '../../../src/store/sqlite/newDatabase.js';
import { openDatabase } from '../../../src/store/sqlite/open.js';
import { ProxyHarness, anthropicBody, postJson, settingsFrom } from '../proxy/harness.js';
import { startProxy } from '../../../src/cli/composeWorker.js';
import { openSqliteWarden } from '../../helpers/sqliteWarden.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

async function openRefusal(path: string): Promise<StoreError> {
  try {
    await (await openSqliteWarden(path, { policy: defaultLimiterPolicy, clock: Date.now })).close();
  } catch (error) {
    if (error instanceof StoreError) return error;
    throw error;
  }
  throw new Error(`${path} was opened, but should have been refused`);
}

function expectOneLine(error: StoreError, path: string): void {
  expect(error.message).toContain(path);
  expect(error.message).not.toContain('\n');
  expect(error.message).toContain(`ratewarden new-db --db ${path}`);
}

async function servingProxy() {
  const sim = await harness.sim();
  const { proxy, dbPath } = await harness.proxy({ upstream: sim.url, provider: 'anthropic' });
  expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(200);
  return { sim, proxy, dbPath };
}

describe('the database deleted or replaced while the proxy runs (issue 9 item 1)', () => {
  it('deleted (with its -wal and -shm): health and every request answer 503 saying why; nothing is forwarded', async () => {
    const { sim, proxy, dbPath } = await servingProxy();
    for (const path of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) rmSync(path, { force: true });

    const health = await fetch(`${proxy.url}/_ratewarden/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({
      status: 'unavailable',
      error: expect.stringContaining(`database ${dbPath} was deleted while the proxy had it open`),
    });
    const refused = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
    expect(refused.status).toBe(503);
    expect(refused.headers.get('x-ratewarden-reason')).toBe('store-unavailable');
    expect((await refused.json()) as unknown).toMatchObject({
      error: { message: expect.stringMatching(/was deleted while the proxy had it open/) },
    });
    expect(sim.stats().requests).toBe(1);
    // The proxy never recreates the file on its own.
    await proxy.close();
    expect(existsSync(dbPath)).toBe(false);
  });

  it('replaced by another file (even a copy of itself): the proxy fails closed until restarted', async () => {
    const { sim, proxy, dbPath } = await servingProxy();
    const copy = join(dirname(dbPath), 'copy.db');
    openDatabase(dbPath).close();
    copyFileSync(dbPath, copy);
    renameSync(copy, dbPath);

    const health = await fetch(`${proxy.url}/_ratewarden/health`);
    expect(await health.json()).toMatchObject({ status: 'unavailable', error: expect.stringContaining('was replaced by another file') });
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(503);
    expect(sim.stats().requests).toBe(1);
  });

  it('the ticker notices without any request, and logs it once', async () => {
    const sim = await harness.sim();
    const lines: string[] = [];
    let noticed: () => void = () => undefined;
    const notice = new Promise<void>((resolve) => {
      noticed = resolve;
    });
    const log = {
      info: () => undefined,
      warn: () => undefined,
      error: (event: string, message: string) => {
        lines.push(`${event}: ${message}`);
        if (event === 'store-unavailable') noticed();
      },
    };
    const dbPath = harness.dbPath();
    const proxy = await startProxy(settingsFrom({ listen: '127.0.0.1:0', upstream: sim.url, db: dbPath, window: '1s' }), { log });
    try {
      rmSync(dbPath);
      await notice;
      // Further ticks (window 1s: one every 100 ms) find the same problem and must stay quiet; a
      // slow machine runs fewer of them, which weakens this check but never fails it falsely.
      await new Promise((resolve) => setTimeout(resolve, 350));
    } finally {
      await proxy.close(0);
    }
    expect(lines.filter((line) => line.startsWith('store-unavailable:') && line.includes('was deleted'))).toHaveLength(1);
  });
});

describe('a restart never begins from nothing where a database existed (issue 9 item 1)', () => {
  it('the first start creates the database and its identity marker; later starts open the same one', async () => {
    const dbPath = harness.dbPath();
    expect(existsSync(markerPathFor(dbPath))).toBe(false);
    await (await openSqliteWarden(dbPath, { policy: defaultLimiterPolicy, clock: Date.now })).close();
    const id = readMarker(dbPath);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(statSync(markerPathFor(dbPath)).mode & 0o777).toBe(0o600);
    await (await openSqliteWarden(dbPath, { policy: defaultLimiterPolicy, clock: Date.now })).close();
    expect(readMarker(dbPath)).toBe(id);
  });

  it('deleted: refused with one line naming the path and "ratewarden new-db"; nothing is created', async () => {
    const dbPath = harness.dbPath();
    await (await openSqliteWarden(dbPath, { policy: defaultLimiterPolicy, clock: Date.now })).close();
    rmSync(dbPath);
    const error = await openRefusal(dbPath);
    expect(error.problem).toBe('gone');
    expectOneLine(error, dbPath);
    // Read-only views and operator commands say the same, not "run ratewarden run to create it".
    for (const options of [{ readonly: true }, { mustExist: true }]) {
      expect(() => openDatabase(dbPath, options)).toThrow(/is gone, but .*ratewarden new-db/);
    }
    expect(existsSync(dbPath)).toBe(false);
  });

  it('deleted along with its marker, but its -wal is left: refused as well', async () => {
    const dbPath = harness.dbPath();
    const db = openDatabase(dbPath);
    db.exec('INSERT INTO audit_log (at, action, actor, detail) VALUES (1, "x", "y", "{}")'.replaceAll('"', "'"));
    copyFileSync(`${dbPath}-wal`, `${dbPath}-wal.keep`);
    db.close();
    rmSync(dbPath);
    rmSync(markerPathFor(dbPath));
    renameSync(`${dbPath}-wal.keep`, `${dbPath}-wal`);
    const error = await openRefusal(dbPath);
    expect(error.problem).toBe('gone');
    expect(error.message).toContain(`${dbPath}-wal`);
    expectOneLine(error, dbPath);
  });

  it('replaced by another database, or by an empty file: refused before anything is written', async () => {
    const dbPath = harness.dbPath();
    await (await openSqliteWarden(dbPath, { policy: defaultLimiterPolicy, clock: Date.now })).close();
    const other = join(harness.dbPath());
    await (await openSqliteWarden(other, { policy: defaultLimiterPolicy, clock: Date.now })).close();
    copyFileSync(other, dbPath);
    const replaced = await openRefusal(dbPath);
    expect(replaced.problem).toBe('replaced');
    expectOneLine(replaced, dbPath);

    writeFileSync(dbPath, '');
    const empty = await openRefusal(dbPath);
    expect(empty.message).toMatch(/it is an empty file/);
    expect(statSync(dbPath).size).toBe(0);
  });

  it('a restored backup of the same database is accepted', async () => {
    const dbPath = harness.dbPath();
    await (await openSqliteWarden(dbPath, { policy: defaultLimiterPolicy, clock: Date.now })).close();
    const backup = `${dbPath}.backup`;
    copyFileSync(dbPath, backup);
    rmSync(dbPath);
    renameSync(backup, dbPath);
    await (await openSqliteWarden(dbPath, { policy: defaultLimiterPolicy, clock: Date.now })).close();
  });

  it('new-db starts anew on purpose: moves the old leftovers aside, creates a new database, and the proxy starts again', async () => {
    const dbPath = harness.dbPath();
    await (await openSqliteWarden(dbPath, { policy: defaultLimiterPolicy, clock: Date.now })).close();
    const oldId = readMarker(dbPath);
    rmSync(dbPath);
    writeFileSync(`${dbPath}-wal`, 'left over');
    const outcome = startNewDatabase(dbPath, new Date(0));
    expect(outcome.kind).toBe('created');
    expect(readMarker(dbPath)).not.toBe(oldId);
    expect(readFileSync(`${dbPath}-wal.orphaned-1970-01-01T00-00-00-000Z`, 'utf8')).toBe('left over');
    expect(readdirSync(dirname(dbPath)).filter((name) => name.endsWith('-wal'))).toEqual([]);
    await (await openSqliteWarden(dbPath, { policy: defaultLimiterPolicy, clock: Date.now })).close();

    const other = harness.dbPath();
    await (await openSqliteWarden(other, { policy: defaultLimiterPolicy, clock: Date.now })).close();
    copyFileSync(other, dbPath);
    expect((await openRefusal(dbPath)).problem).toBe('replaced');
    expect(startNewDatabase(dbPath)).toMatchObject({ kind: 'adopted', databaseId: readMarker(other) });
    await (await openSqliteWarden(dbPath, { policy: defaultLimiterPolicy, clock: Date.now })).close();
    expect(startNewDatabase(dbPath).kind).toBe('unchanged');
  });
});
