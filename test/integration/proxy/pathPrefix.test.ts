import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, rawExchange, rawRequest, recordedRequests } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

/** A real upstream on 127.0.0.1 that answers 200 and remembers every request line it received. */
async function recordingUpstream(): Promise<{ url: string; received: string[] }> {
  const received: string[] = [];
  const upstream = await harness.upstream((request, response) => {
    received.push(request.url ?? '');
    request.resume();
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end('{"ok":true}');
  });
  return { url: upstream.url, received };
}

describe('an upstream path prefix cannot be escaped', () => {
  const climbing = [
    '/../admin',
    '/%2e%2e/admin',
    '/%2E%2e/admin',
    '/.%2e/admin',
    '/v1/../../admin',
    '/v1/..%2f..%2fadmin',
    '/v1/..%5c..%5cadmin',
    '/v1/%2e%2e/%2e%2e/admin?x=1',
  ];

  it('answers 400 locally to every path that climbs out, and forwards none of them', async () => {
    const upstream = await recordingUpstream();
    const { proxy, dbPath } = await harness.proxy({ upstream: `${upstream.url}/anthropic`, provider: 'anthropic' });
    for (const path of climbing) {
      const answer = await rawRequest(proxy.url, { path });
      expect(answer.status, path).toBe(400);
      expect(answer.headers['x-ratewarden-reason'], path).toBe('path-climbs-out');
      expect(JSON.parse(answer.body.toString()), path).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    }
    // Backslashes as the client sent them, byte for byte (node:http would refuse to send them).
    const said = await rawExchange(proxy.url, `GET /..\\admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(said.startsWith('HTTP/1.1 400')).toBe(true);
    expect(upstream.received).toEqual([]);
    expect(recordedRequests(dbPath)).toEqual([]);
  });

  it('forwards a path with harmless dot segments normalised, under the prefix', async () => {
    const upstream = await recordingUpstream();
    const { proxy } = await harness.proxy({ upstream: `${upstream.url}/anthropic`, provider: 'generic' });
    expect((await rawRequest(proxy.url, { path: '/v1/x/../models?limit=2' })).status).toBe(200);
    expect((await rawRequest(proxy.url, { path: '/v1/./x/%2e%2e/files' })).status).toBe(200);
    const absolute = (path: string): string => `GET http://evil.example${path} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`;
    expect((await rawExchange(proxy.url, absolute('/v1/x/../models'))).startsWith('HTTP/1.1 200')).toBe(true);
    // An absolute-form target is judged by the path it spelled, not by a parser's clamped version.
    expect((await rawExchange(proxy.url, absolute('/v1/../../admin'))).startsWith('HTTP/1.1 400')).toBe(true);
    expect(upstream.received).toEqual(['/anthropic/v1/models?limit=2', '/anthropic/v1/files', '/anthropic/v1/models']);
  });
});
