import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, rawRequest } from '../proxy/harness.js';

/** Issue 26 item 9: every spelling of the reserved prefix is kept from the upstream; only the exact names are served. */
const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

const spellings = [
  '/%5Fratewarden/health',
  '/%5fratewarden/metrics',
  '/%255Fratewarden/health',
  '/_RATEWARDEN/health',
  '/_Ratewarden/metrics',
  '//_ratewarden/health',
  '///_ratewarden/metrics',
  '/%2F_ratewarden/health',
  '/%5C_ratewarden/health',
  '/v1/..%2F_ratewarden/health',
  '/v1/%2e%2e/%5FRateWarden',
  '//_ratewarden',
];

describe('reserved paths are matched after normalisation (issue 26 item 9)', () => {
  it('no spelling of /_ratewarden reaches the upstream: each is refused locally as reserved', async () => {
    const forwarded: string[] = [];
    const upstream = await harness.upstream((request, response) => {
      forwarded.push(request.url ?? '');
      request.resume();
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    });
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' });
    for (const path of spellings) {
      const answer = await rawRequest(proxy.url, { path });
      expect({ path, status: answer.status, reason: answer.headers['x-ratewarden-reason'] }).toEqual({
        path,
        status: 404,
        reason: 'reserved-path',
      });
    }
    expect(forwarded).toEqual([]);

    // The exact names still answer, and ordinary paths (even ones that merely contain the word) are still forwarded.
    expect((await rawRequest(proxy.url, { path: '/_ratewarden/health' })).status).toBe(200);
    expect((await rawRequest(proxy.url, { path: '/v1/models/_ratewarden' })).status).toBe(200);
    expect((await rawRequest(proxy.url, { path: '/v1/models?name=/_ratewarden/health' })).status).toBe(200);
    expect(forwarded).toEqual(['/v1/models/_ratewarden', '/v1/models?name=/_ratewarden/health']);
  });
});
