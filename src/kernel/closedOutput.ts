import type { Writable } from 'node:stream';

/**
 * Makes a closed stdout or stderr harmless. When the reader of a pipe goes away first (`| tee`,
 * `| head`, a pager, all ended by the same Ctrl-C), the next write fails with EPIPE; without a
 * listener that error would end the process, and with it every request in flight. Output is
 * only ever a report of what the proxy does: once its reader is gone, it is dropped.
 */
export function tolerateClosedOutput(...streams: Writable[]): void {
  for (const stream of streams) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED' || error.code === 'EIO') {
        stream.destroy();
        return;
      }
      throw error;
    });
  }
}
