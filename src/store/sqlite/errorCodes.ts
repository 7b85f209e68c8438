/** SQLite's answer when the lock could not be had within busy_timeout, or the disk refused. */
export function isStoreWriteFailure(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED|FULL|IOERR|READONLY|CANTOPEN|PROTOCOL)/.test(code);
}

/** SQLite found the file damaged (or no longer a database) while reading it. */
export function isStoreCorruption(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(code);
}
