import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { dimensions, type Report } from '../core/reported.js';
import { StoreError } from './errors.js';

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
 * forward into the exhausted window. The next start records them first. This is the files'
 * common name: each process writes its own (heldFileOfProcess), so that two proxies on one
 * database never overwrite each other's, and a start reads them all (takeOverHeldFiles).
 */
export const heldFilePathFor = (dbPath: string): string => `${dbPath}.held-429s`;

/** The file one process writes: the common name and its pid. */
export const heldFileOfProcess = (base: string, pid: number): string => `${base}.${pid}`;

/** Far more than any outage holds (an entry is well under 2 KiB); a bigger file is not ours, and reading it could take the memory. */
const maxHeldFileBytes = 16 * 1024 * 1024;

/**
 * Replaces the file at `path` with `entries` (none: removes it), creating its folder when needed
 * (a host that only uses PostgreSQL may have no state folder yet). Never through a symbolic link
 * planted at `path`: the entries go to a new file of a random name, opened O_EXCL | O_NOFOLLOW,
 * that is then renamed over `path` (rename replaces a link, never what it points at). Returns
 * false when it cannot be written.
 */
export function writeHeldFile(path: string, entries: readonly HeldEntry[]): boolean {
  try {
    if (entries.length === 0) {
      rmSync(path, { force: true });
      return true;
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
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

/** Every held file of `base` present now: the common name itself (written before files were per process) and each process's. */
export function heldFilesOf(base: string): string[] {
  const name = basename(base);
  let names: string[];
  try {
    names = readdirSync(dirname(base));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw unreadable(dirname(base), (error as Error).message);
  }
  return names
    .filter((candidate) => candidate === name || new RegExp(`^${escapeRegExp(name)}\\.\\d+$`).test(candidate))
    .map((candidate) => join(dirname(base), candidate));
}

/**
 * At start: the entries of every held file of `base`, the running process's own or not (a 429
 * held by another process still alive is recorded twice at worst, and the second time finds
 * its request settled and does nothing). Written into `ownFile`, and the files of processes no
 * longer running are removed. Throws StoreError when one cannot be read or is damaged: starting
 * without what it holds would forward into a cooldown.
 */
export function takeOverHeldFiles(base: string, ownFile: string): HeldEntry[] {
  const files = heldFilesOf(base);
  const byRequest = new Map<number, HeldEntry>();
  for (const file of files)
    for (const entry of readHeldFile(file)) if (!byRequest.has(entry.requestId)) byRequest.set(entry.requestId, entry);
  const entries = [...byRequest.values()];
  if (entries.length === 0) return entries;
  if (!writeHeldFile(ownFile, entries)) return entries;
  for (const file of files) if (file !== ownFile && !ownerRunning(file)) rmSync(file, { force: true });
  return entries;
}

/** Whether the process a held file is named after still runs (the common name has no owner any more). */
function ownerRunning(file: string): boolean {
  const pid = Number(/\.(\d+)$/.exec(file)?.[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * What one file holds; a missing file holds none. Never blocks and never reads without end: it
 * must be a regular file (not a FIFO, a device or a symbolic link) of a bounded size. A file
 * that is not that, cannot be read or is not well formed throws StoreError.
 */
export function readHeldFile(path: string): HeldEntry[] {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    throw unreadable(path, code === 'ELOOP' ? 'it is a symbolic link' : (error as Error).message);
  }
  let text: string;
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw unreadable(path, 'it is not a regular file');
    if (stat.size > maxHeldFileBytes)
      throw unreadable(path, `it is ${stat.size} bytes, more than the ${maxHeldFileBytes} a held file can be`);
    const buffer = Buffer.alloc(stat.size);
    let read = 0;
    while (read < stat.size) {
      const bytes = readSync(fd, buffer, read, stat.size - read, read);
      if (bytes === 0) break;
      read += bytes;
    }
    text = buffer.toString('utf8', 0, read);
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw unreadable(path, (error as Error).message);
  } finally {
    closeSync(fd);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw unreadable(path, 'it is not the JSON ratewarden writes');
  }
  const held = (parsed as { held?: unknown } | null)?.held;
  if (!Array.isArray(held) || !held.every(isHeldEntry)) throw unreadable(path, 'its entries are not the ones ratewarden writes');
  return held.map(withReadableReports);
}

function unreadable(path: string, why: string): StoreError {
  return new StoreError(
    'unreadable',
    `${path}, the upstream 429s a previous run could not record, cannot be read: ${why.replace(/\s+/g, ' ')}; repair or remove it (removing it forgets the cooldowns it holds), then start again`,
  );
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

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
