import type { IncomingMessage } from 'node:http';

export type BodyRead =
  | { kind: 'read'; body: Buffer; /** Null when the request had no body framing at all (a plain GET). */ length: number | null }
  | { kind: 'too-large'; limit: number }
  | { kind: 'aborted' };

function hasBodyFraming(request: IncomingMessage): boolean {
  return request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined;
}

/**
 * Reads the whole request body, up to `limit` bytes. It is read before admission because the
 * reservation depends on it (`max_tokens`, the input size), and it is bounded so that no client
 * can make the proxy hold more than `--max-body` per request.
 */
export function readRequestBody(request: IncomingMessage, limit: number): Promise<BodyRead> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve({ kind: 'too-large', limit });
  if (!hasBodyFraming(request)) {
    request.resume();
    return Promise.resolve({ kind: 'read', body: Buffer.alloc(0), length: null });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let done = false;
    const finish = (result: BodyRead): void => {
      if (done) return;
      done = true;
      request.off('data', onData);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes > limit) {
        chunks.length = 0;
        request.pause();
        finish({ kind: 'too-large', limit });
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => {
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, bytes);
      finish({ kind: 'read', body, length: body.length });
    });
    request.once('close', () => finish({ kind: 'aborted' }));
    request.once('error', () => finish({ kind: 'aborted' }));
  });
}
