import { statSync } from 'node:fs';

/** The file a path named when the database was opened: device and inode. */
export interface FileIdentity {
  dev: number;
  ino: number;
}

export function fileIdentityOf(path: string): FileIdentity {
  const stat = statSync(path);
  return { dev: stat.dev, ino: stat.ino };
}

/**
 * Null while `path` still names the file that was opened; otherwise why not. SQLite keeps
 * writing to an open file that was deleted or renamed away, so only this comparison notices.
 */
export function fileChangeSince(path: string, opened: FileIdentity): string | null {
  let now: FileIdentity;
  try {
    now = fileIdentityOf(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? `database ${path} was deleted while the proxy had it open`
      : `database ${path} cannot be inspected (${code ?? (error as Error).message})`;
  }
  return now.dev === opened.dev && now.ino === opened.ino
    ? null
    : `database ${path} was replaced by another file while the proxy had it open`;
}
