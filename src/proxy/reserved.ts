import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HealthReport } from './health.js';
import { sendLocalReply } from './localReplies.js';
import { metricsPath, type ProxyMetrics } from './metrics.js';
import type { PageAnswerer } from './pageEndpoint.js';
import type { ProviderAdapter } from './providers/adapter.js';
import { healthPath } from '../kernel/workerProtocol.js';

/** What the reserved paths answer from. */
export interface ReservedEndpoints {
  health: () => Promise<HealthReport>;
  metrics: ProxyMetrics;
  /** The live page (docs/page.md); absent with `--no-page`. */
  page?: PageAnswerer;
}

function answer(
  request: IncomingMessage,
  response: ServerResponse,
  status: number,
  contentType: string,
  body: string | Buffer,
  headers: Readonly<Record<string, string>> = {},
): void {
  response.writeHead(status, {
    ...headers,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  response.end(request.method === 'HEAD' ? undefined : body);
}

/**
 * Answers the reserved `/_ratewarden/` paths, which are never forwarded: the health check, the
 * Prometheus metrics, and 404 for any other name under the prefix.
 */
export async function answerReserved(
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  provider: ProviderAdapter,
  endpoints: ReservedEndpoints,
): Promise<void> {
  request.resume();
  const readable = request.method === 'GET' || request.method === 'HEAD';
  if (readable && path === healthPath) {
    const report = await endpoints.health();
    answer(request, response, report.status === 'ok' ? 200 : 503, 'application/json', JSON.stringify(report));
    return;
  }
  if (readable && path === metricsPath) {
    answer(request, response, 200, endpoints.metrics.contentType, await endpoints.metrics.scrape());
    return;
  }
  const page = readable && endpoints.page !== undefined ? await endpoints.page(path) : null;
  if (page !== null) {
    answer(request, response, page.status, page.contentType, page.body, page.headers);
    return;
  }
  sendLocalReply(response, provider, {
    reason: 'reserved-path',
    message: `${path} is reserved by ratewarden and never forwarded; the health check is GET ${healthPath}, the metrics GET ${metricsPath}`,
  });
}
