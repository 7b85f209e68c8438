import { request } from 'node:http';

/** What one request got: an answer, or the error code of a failed connection or exchange. */
export type Outcome =
  | {
      kind: 'answer';
      status: number;
      reason: string | null;
      retryAfter: string | null;
      retryAfterMs: string | null;
      body: string;
      sentAt: number;
      receivedAt: number;
      /** The stand-in worker that answered (test/helpers/standInWorker.mjs), if one did. */
      standInPid: number | null;
    }
  | { kind: 'error'; code: string; sentAt: number; receivedAt: number };

/**
 * One request on a connection of its own (no keep-alive), so that each one meets the listening
 * socket. With `timeoutMs`, a request that gets no answer within it ends as error `unanswered`.
 */
export function send(url: string, path: string, method = 'GET', body?: string, timeoutMs?: number): Promise<Outcome> {
  const sentAt = Date.now();
  return new Promise((resolve) => {
    const outgoing = request(
      new URL(path, url),
      { method, agent: false, headers: { connection: 'close', 'content-type': 'application/json' } },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () =>
          resolve({
            kind: 'answer',
            status: response.statusCode ?? 0,
            reason: (response.headers['x-ratewarden-reason'] as string | undefined) ?? null,
            retryAfter: (response.headers['retry-after'] as string | undefined) ?? null,
            retryAfterMs: (response.headers['retry-after-ms'] as string | undefined) ?? null,
            body: text,
            sentAt,
            receivedAt: Date.now(),
            standInPid: response.headers['x-stand-in-pid'] === undefined ? null : Number(response.headers['x-stand-in-pid']),
          }),
        );
        response.on('error', (error: NodeJS.ErrnoException) =>
          resolve({ kind: 'error', code: error.code ?? error.message, sentAt, receivedAt: Date.now() }),
        );
      },
    );
    outgoing.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ kind: 'error', code: error.code ?? error.message, sentAt, receivedAt: Date.now() }),
    );
    if (timeoutMs !== undefined) {
      const timer = setTimeout(() => outgoing.destroy(Object.assign(new Error('no answer'), { code: 'unanswered' })), timeoutMs);
      outgoing.once('close', () => clearTimeout(timer));
    }
    outgoing.end(body);
  });
}
