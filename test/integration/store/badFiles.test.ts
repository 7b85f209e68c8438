import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultLimiterPolicy } from '../../../src/core/types.js';
import { StoreError, type StoreProblem } from '../../../src/store/errors.js';
import { latestSchemaVersion } from '../../../src/store/migrations.js';
import { loadSqliteMigrations } from '../../../src/store/sqlite/migrations.js';
import { openDatabase, type OpenOptions } from '../../../src/store/sqlite/open.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';
import { openSqliteWarden } from '../../helpers/sqliteWarden.js';

const scratch = new ScratchDirs();
afterEach(() => scratch.removeAll());

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** What is on disk next to the file: name, size and content hash of each entry. */
function snapshot(dir: string): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    entries[name] = statSync(path).isFile() ? `${statSync(path).size}:${sha256(path)}:${(statSync(path).mode & 0o777).toString(8)}` : 'dir';
  }
  return entries;
}

function refusal(path: string, options: OpenOptions = {}): StoreError {
  try {
    openDatabase(path, options).close();
  } catch (error) {
    if (error instanceof StoreError) return error;
    throw error;
  }
  throw new Error(`${path} was opened, but should have been refused`);
}

function expectClearRefusal(path: string, problem: StoreProblem, options: OpenOptions = {}): StoreError {
  const error = refusal(path, options);
  expect(error.problem).toBe(problem);
  expect(error.message).toContain(path);
  expect(error.message).not.toContain('\n');
  return error;
}

/** A real database holding some state, closed cleanly. */
function populatedDatabase(dir: string): string {
  const path = join(dir, 'ratewarden.db');
  const db = openDatabase(path);
  const insert = db.prepare("INSERT INTO audit_log (at, action, actor, detail) VALUES (?, 'test', 'fixture', ?)");
  db.transaction(() => {
    for (let i = 0; i < 400; i++) insert.run(i, JSON.stringify({ filler: 'x'.repeat(200), i }));
  }).immediate();
  db.close();
  return path;
}

describe('a file that cannot be used is refused with one clear line and left exactly as it was', () => {
  it('garbage bytes: not a database', async () => {
    const dir = scratch.make();
    const path = join(dir, 'ratewarden.db');
    const garbage = Buffer.alloc(16_384);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) % 251;
    writeFileSync(path, garbage, { mode: 0o600 });
    const before = snapshot(dir);

    const error = expectClearRefusal(path, 'not-a-database');
    expect(error.message).toMatch(/not a SQLite database.*left untouched/);
    await expect(openSqliteWarden(path, { policy: defaultLimiterPolicy, clock: () => 0 })).rejects.toThrow(StoreError);
    expect(refusal(path, { readonly: true }).problem).toBe('not-a-database');
    expect(snapshot(dir)).toEqual(before);
  });

  it('a text file: not a database', async () => {
    const dir = scratch.make();
    const path = join(dir, 'notes.db');
    writeFileSync(path, 'these are my notes, not a database\n'.repeat(50));
    const before = snapshot(dir);
    expectClearRefusal(path, 'not-a-database');
    expect(snapshot(dir)).toEqual(before);
  });

  it('a read-only file (0400): refused for writing, even to root, and unchanged', async () => {
    const dir = scratch.make();
    const path = populatedDatabase(dir);
    chmodSync(path, 0o400);
    const before = snapshot(dir);

    const error = expectClearRefusal(path, 'read-only');
    expect(error.message).toMatch(/read-only; make it writable/);
    await expect(openSqliteWarden(path, { policy: defaultLimiterPolicy, clock: () => 0 })).rejects.toThrow(/read-only/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('a database from a newer schema version: refused before anything is written', async () => {
    const dir = scratch.make();
    const path = populatedDatabase(dir);
    const db = openDatabase(path);
    db.pragma('user_version = 999');
    db.close();
    const before = snapshot(dir);

    const error = expectClearRefusal(path, 'too-new');
    expect(error.message).toMatch(
      new RegExp(
        `schema version 999, newer than this ratewarden understands \\(${latestSchemaVersion(loadSqliteMigrations())}\\); upgrade ratewarden`,
      ),
    );
    expect(refusal(path, { readonly: true }).problem).toBe('too-new');
    await expect(openSqliteWarden(path, { policy: defaultLimiterPolicy, clock: () => 0 })).rejects.toThrow(/version 999/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('a corrupt database: integrity check fails, the file is kept for inspection', async () => {
    const dir = scratch.make();
    const path = populatedDatabase(dir);
    const bytes = readFileSync(path);
    const pageSize = bytes.readUInt16BE(16);
    // Scribble over the b-tree pages past the schema page; the header stays valid.
    for (let offset = 2 * pageSize; offset < bytes.length; offset += 97) bytes[offset] = 0xa5;
    writeFileSync(path, bytes);
    const before = snapshot(dir);

    const error = expectClearRefusal(path, 'corrupt');
    expect(error.message).toMatch(/left untouched/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('a missing file in a read-only view: refused, and no file or folder is created', async () => {
    const dir = scratch.make();
    const path = join(dir, 'not-yet', 'ratewarden.db');
    const error = expectClearRefusal(path, 'missing', { readonly: true });
    expect(error.message).toMatch(/ratewarden run/);
    expect(existsSync(join(dir, 'not-yet'))).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a folder where the file should be: refused', async () => {
    const dir = scratch.make();
    const path = join(dir, 'ratewarden.db');
    mkdirSync(path);
    expectClearRefusal(path, 'unreadable');
    expect(readdirSync(path)).toEqual([]);
  });
});
