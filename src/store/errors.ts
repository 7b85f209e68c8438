export type StoreProblem =
  | 'missing'
  | 'gone'
  | 'replaced'
  | 'not-a-database'
  | 'corrupt'
  | 'read-only'
  | 'unreadable'
  | 'too-new'
  | 'too-old'
  | 'pragma'
  | 'busy'
  | 'write-failed';

/**
 * The database cannot be used as it is. The message is one line that names the file and what to
 * do; the file is left exactly as it was found.
 */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly problem: StoreProblem,
    message: string,
  ) {
    super(message);
  }
}

/** SQLite's answer when the lock could not be had within busy_timeout, or the disk refused. */
export function isStoreWriteFailure(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    typeof code === 'string' &&
    /^SQLITE_(BUSY|LOCKED|FULL|IOERR|READONLY|CANTOPEN|PROTOCOL)/.test(code)
  );
}

/** SQLite found the file damaged (or no longer a database) while reading it. */
export function isStoreCorruption(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(code);
}
