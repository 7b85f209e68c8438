import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { createBrotliCompress, createGzip, type BrotliCompress, type Gzip } from 'node:zlib';

export type SimCompression = 'gzip' | 'br';

/** A response body that may be compressed; `flush` pushes an SSE event out without waiting for more. */
export interface ReplyBody {
  write(text: string): void;
  flush(): Promise<void>;
  end(): void;
}

function accepts(request: IncomingMessage, coding: SimCompression): boolean {
  const header = request.headers['accept-encoding'];
  const offered = (Array.isArray(header) ? header.join(',') : (header ?? '')).toLowerCase();
  return offered.split(',').some((entry) => {
    const [name, ...params] = entry.split(';').map((part) => part.trim());
    const refused = params.some((param) => /^q=0(?:\.0*)?$/.test(param));
    return (name === coding || name === '*') && !refused;
  });
}

export function negotiateCompression(request: IncomingMessage, offered: SimCompression | undefined): SimCompression | undefined {
  return offered !== undefined && accepts(request, offered) ? offered : undefined;
}

/** Writes the status and headers, then returns the body to write into. */
export function openReplyBody(
  response: ServerResponse,
  status: number,
  headers: OutgoingHttpHeaders,
  compression: SimCompression | undefined,
): ReplyBody {
  if (compression === undefined) {
    response.writeHead(status, headers);
    return {
      write: (text) => void response.write(text),
      flush: async () => undefined,
      end: () => void response.end(),
    };
  }
  response.writeHead(status, { ...headers, 'content-encoding': compression, vary: 'accept-encoding' });
  const compressor: Gzip | BrotliCompress = compression === 'gzip' ? createGzip() : createBrotliCompress();
  compressor.pipe(response);
  response.once('close', () => compressor.destroy());
  return {
    write: (text) => void compressor.write(text),
    flush: () =>
      new Promise<void>((resolve) => {
        // A compressor destroyed by a client that went away never calls the flush callback.
        if (compressor.destroyed) return resolve();
        const settle = (): void => {
          compressor.off('close', settle);
          resolve();
        };
        compressor.once('close', settle);
        compressor.flush(settle);
      }),
    end: () => void compressor.end(),
  };
}
