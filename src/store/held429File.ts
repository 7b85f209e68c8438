import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dimensions, type Report } from '../core/reported.js';

/** One upstream 429 the store could not record yet, as the warden holds it. */
export interface HeldEntry {
  requestId: number;
  heldAt: number;
  input: {
    retryAfterMs: number | null;
    reported?: { tokenLimit: number | null; requestLimit: number | null } | null;
    /** What the 429's headers said is left of each limit: which budget it cuts. */
    reports?: readonly Report[];
  };
}

/**
 * Beside the database, the upstream 429s it could not record: a worker stopped or restarted
 * while the database stayed locked would otherwise take them with it, and the next start would
 * forward into the exhausted window. The next start records them first.
 */
export const heldFilePathFor = (dbPath: string): string => `${dbPath}.held-429s`;

/** Replaces the file at `path` with `entries` (none: removes it). Returns false when it cannot be written. */
export function writeHeldFile(path: string, entries: readonly HeldEntry[]): boolean {
  try {
    if (entries.length === 0) {
      rmSync(path, { force: true });
      return true;
    }
    const temporary = `${path}.${process.pid}.tmp`;
    const fd = openSync(temporary, 'w', 0o600);
    try {
      writeSync(fd, `${JSON.stringify({ held: entries })}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
    return true;
  } catch {
    return false;
  }
}

/** What the file holds; entries that are not well formed are skipped, a missing file holds none. */
export function readHeldFile(path: string): HeldEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return [];
  }
  const held = (parsed as { held?: unknown } | null)?.held;
  return Array.isArray(held) ? held.filter(isHeldEntry).map(withReadableReports) : [];
}

/** Reports that are not well formed are dropped, never the 429 itself: it still starts its cooldown. */
function withReadableReports(entry: HeldEntry): HeldEntry {
  const reports: unknown = entry.input.reports;
  if (reports === undefined || (Array.isArray(reports) && reports.every(isReport))) return entry;
  return { ...entry, input: { retryAfterMs: entry.input.retryAfterMs, reported: entry.input.reported ?? null } };
}

function isReport(value: unknown): value is Report {
  const report = value as Partial<Report> | null;
  const finite = (field: unknown): boolean => typeof field === 'number' && Number.isFinite(field);
  return (
    typeof report === 'object' &&
    report !== null &&
    dimensions.includes(report.dimension as Report['dimension']) &&
    (report.limit === null || finite(report.limit)) &&
    finite(report.remaining) &&
    finite(report.resetAt) &&
    finite(report.roundingSlack) &&
    (report.refill === 'bucket' || report.refill === 'window')
  );
}

function isHeldEntry(value: unknown): value is HeldEntry {
  const entry = value as Partial<HeldEntry> | null;
  const retryAfter = entry?.input?.retryAfterMs;
  return Number.isSafeInteger(entry?.requestId) && Number.isFinite(entry?.heldAt) && (retryAfter === null || Number.isFinite(retryAfter));
}
