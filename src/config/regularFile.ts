import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** A config file is a few hundred bytes; anything near this is not one. */
export const maxConfigFileBytes = 1024 * 1024;

/** Why a path that opened is still not a file to read. */
export class NotARegularFile extends Error {}

/**
 * The text of a regular file of at most `maxBytes`. Opened without blocking, so that a FIFO (or a
 * device) named by mistake is refused at once instead of hanging; checked with fstat on what was
 * opened, so nothing can be swapped in between. Errors of the open itself are thrown as they
 * come (ENOENT, EACCES: the caller words them); what is not a regular file, or too big, throws
 * NotARegularFile saying what it is.
 */
export function readRegularFile(path: string, maxBytes = maxConfigFileBytes): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new NotARegularFile(`it is ${kindOf(stat)}, not a regular file`);
    if (stat.size > maxBytes) throw new NotARegularFile(`it is ${stat.size} bytes, more than the ${maxBytes} a config file may be`);
    const buffer = Buffer.alloc(stat.size);
    let read = 0;
    while (read < stat.size) {
      const bytes = readSync(fd, buffer, read, stat.size - read, read);
      if (bytes === 0) break;
      read += bytes;
    }
    return buffer.toString('utf8', 0, read);
  } finally {
    closeSync(fd);
  }
}

function kindOf(stat: ReturnType<typeof fstatSync>): string {
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isDirectory()) return 'a folder';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  return 'not a file';
}
