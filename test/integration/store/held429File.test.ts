import { execFileSync } from 'node:child_process';
import { lstatSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../../src/store/errors.js';
import {
  heldFileOfProcess,
  heldFilePathFor,
  heldFilesOf,
  readHeldFile,
  takeOverHeldFiles,
  writeHeldFile,
  type HeldEntry,
} from '../../../src/store/held429File.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';

const scratch = new ScratchDirs();
afterEach(() => scratch.removeAll());

const report = { dimension: 'tokens', limit: 30_000, remaining: 0, resetAt: 1_060_000, roundingSlack: 500, refill: 'bucket' } as const;

describe('the file of held upstream 429s beside the database', () => {
  it('keeps what each 429 said is left, so that the next start cuts the right budget', () => {
    const dbPath = join(scratch.make('ratewarden-held-'), 'ratewarden.db');
    const entry: HeldEntry = {
      requestId: 7,
      heldAt: 1_000_000,
      input: { retryAfterMs: 20_000, reported: { tokenLimit: 30_000, requestLimit: null }, reports: [report] },
    };
    expect(writeHeldFile(heldFilePathFor(dbPath), [entry])).toBe(true);
    expect(readHeldFile(heldFilePathFor(dbPath))).toEqual([entry]);
  });

  it('keeps a 429 whose reports are not well formed, without them: the 429 still starts its cooldown', () => {
    const dbPath = join(scratch.make('ratewarden-held-'), 'ratewarden.db');
    const held = [
      { requestId: 1, heldAt: 1_000_000, input: { retryAfterMs: null, reports: 'tokens' } },
      { requestId: 2, heldAt: 1_000_000, input: { retryAfterMs: 5_000, reported: null, reports: [{ ...report, remaining: 'none' }] } },
      { requestId: 3, heldAt: 1_000_000, input: { retryAfterMs: null, reports: [{ ...report, dimension: 'dollars' }] } },
    ];
    writeFileSync(heldFilePathFor(dbPath), JSON.stringify({ held }));
    expect(readHeldFile(heldFilePathFor(dbPath))).toEqual([
      { requestId: 1, heldAt: 1_000_000, input: { retryAfterMs: null, reported: null } },
      { requestId: 2, heldAt: 1_000_000, input: { retryAfterMs: 5_000, reported: null } },
      { requestId: 3, heldAt: 1_000_000, input: { retryAfterMs: null, reported: null } },
    ]);
  });
});

describe('the held file is written and read safely (issue 26 item 2)', () => {
  const entry: HeldEntry = { requestId: 9, heldAt: 1_000_000, input: { retryAfterMs: 30_000 } };

  it('creates the folder it belongs in (a host that only used PostgreSQL has no state folder yet)', () => {
    const file = join(scratch.make('ratewarden-held-'), 'state', 'ratewarden', 'postgres-abc.held-429s.42');
    expect(writeHeldFile(file, [entry])).toBe(true);
    expect(readHeldFile(file)).toEqual([entry]);
  });

  it('never follows a symbolic link planted where it writes: the link is replaced, what it points at is untouched', () => {
    const dir = scratch.make('ratewarden-held-');
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious');
    const file = heldFileOfProcess(heldFilePathFor(join(dir, 'ratewarden.db')), 4242);
    symlinkSync(victim, file);
    expect(writeHeldFile(file, [entry])).toBe(true);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(lstatSync(file).isSymbolicLink()).toBe(false);
    expect(readHeldFile(file)).toEqual([entry]);
  });

  it('refuses, at once, what is not a regular file: a FIFO (no blocking), a link to an endless device, a folder', () => {
    const dir = scratch.make('ratewarden-held-');
    const fifo = join(dir, 'fifo.held-429s');
    execFileSync('mkfifo', [fifo]);
    expect(() => readHeldFile(fifo)).toThrow(/not a regular file/);
    const zero = join(dir, 'zero.held-429s');
    symlinkSync('/dev/zero', zero);
    expect(() => readHeldFile(zero)).toThrow(/symbolic link/);
    expect(() => readHeldFile('/dev/zero')).toThrow(/not a regular file/);
    expect(() => readHeldFile(dir)).toThrow(StoreError);
  });

  it('refuses a damaged, unreadable or oversized file with one line naming it and the fix, instead of ignoring it', () => {
    const dir = scratch.make('ratewarden-held-');
    const damaged = join(dir, 'damaged.held-429s');
    writeFileSync(damaged, '{"held": [{"requestId": 1, "heldAt"');
    expect(() => readHeldFile(damaged)).toThrow(
      /damaged\.held-429s, the upstream 429s a previous run could not record, cannot be read: .*; repair or remove it/,
    );
    const wrongShape = join(dir, 'shape.held-429s');
    writeFileSync(wrongShape, JSON.stringify({ held: [{ requestId: 'one' }] }));
    expect(() => readHeldFile(wrongShape)).toThrow(StoreError);
    const huge = join(dir, 'huge.held-429s');
    writeFileSync(huge, '');
    truncateSync(huge, 17 * 1024 * 1024);
    expect(() => readHeldFile(huge)).toThrow(/more than/);
    const message = (() => {
      try {
        readHeldFile(damaged);
        return '';
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(message).not.toContain('\n');
  });

  it('two processes keep a file each; a start takes over all of them (one entry per request) and removes those of processes gone', () => {
    const base = heldFilePathFor(join(scratch.make('ratewarden-held-'), 'ratewarden.db'));
    const gonePid = 2_147_483_000;
    writeHeldFile(heldFileOfProcess(base, gonePid), [entry, { ...entry, requestId: 10 }]);
    writeHeldFile(heldFileOfProcess(base, process.ppid), [{ ...entry, requestId: 11 }]);
    writeFileSync(base, JSON.stringify({ held: [{ ...entry, requestId: 9 }] }));
    const own = heldFileOfProcess(base, process.pid);
    const taken = takeOverHeldFiles(base, own);
    expect(taken.map((held) => held.requestId).sort((a, b) => a - b)).toEqual([9, 10, 11]);
    expect(
      readHeldFile(own)
        .map((held) => held.requestId)
        .sort((a, b) => a - b),
    ).toEqual([9, 10, 11]);
    // The parent still runs: its file is its own to keep; the others' owners are gone.
    expect(heldFilesOf(base).sort()).toEqual([heldFileOfProcess(base, process.ppid), own].sort());
  });
});
