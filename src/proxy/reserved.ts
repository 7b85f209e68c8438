import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HealthReport } from './health.js';
import { sendLocalReply } from './localReplies.js';
import type { ProviderName } from './providers/types.js';

export const healthPath = '/_ratewarden/health';

/**
 * Answers the reserved `/_ratewarden/` paths, which are never forwarded: the health check, and
 * 404 for any other name under the prefix.
 */
export function answerReserved(request: IncomingMessage, response: ServerResponse, path: string, provider: ProviderName, health: () => HealthReport): void {
  request.resume();
  if (path !== healthPath || (request.method !== 'GET' && request.method !== 'HEAD')) {
    sendLocalReply(response, provider, {
      reason: 'reserved-path',
      message: `${path} is reserved by ratewarden and never forwarded; the health check is GET ${healthPath}`,
    });
    return;
  }
  const report = health();
  const body = JSON.stringify(report);
  response.writeHead(report.status === 'ok' ? 200 : 503, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  response.end(request.method === 'HEAD' ? undefined : body);
}
