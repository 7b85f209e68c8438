import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { heldFilePathFor, readHeldFile, writeHeldFile, type HeldEntry } from '../../../src/store/held429File.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';

const scratch = new ScratchDirs();
afterEach(() => scratch.removeAll());

const report = { dimension: 'tokens', limit: 30_000, remaining: 0, resetAt: 1_060_000, roundingSlack: 500, refill: 'bucket' } as const;

describe('the file of held upstream 429s beside the database', () => {
  it('keeps what each 429 said is left, so that the next start cuts the right budget', () => {
    const dbPath = join(scratch.make('ratewarden-held-'), 'ratewarden.db');
    const entry: HeldEntry = { requestId: 7, heldAt: 1_000_000, input: { retryAfterMs: 20_000, reported: { tokenLimit: 30_000, requestLimit: null }, reports: [report] } };
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
