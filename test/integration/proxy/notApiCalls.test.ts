import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, anthropicBody, postJson, recordedRequests, readRows } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

describe('requests that are not API calls (HEAD /, GET /)', () => {
  it('are forwarded, never counted, and a 429 on them starts no cooldown', async () => {
    let seen: string[] = [];
    const upstream = await harness.upstream((request, response) => {
      seen.push(`${request.method ?? ''} ${request.url ?? ''}`);
      if (request.url === '/v1/messages') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ type: 'message', usage: { input_tokens: 3, output_tokens: 4 } }));
        return;
      }
      // The connectivity check meets a limited upstream.
      response.writeHead(429, { 'retry-after': '30', 'content-type': 'application/json' });
      response.end('{"type":"error","error":{"type":"rate_limit_error","message":"busy"}}');
    });
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' });

    const head = await fetch(`${proxy.url}/`, { method: 'HEAD' });
    expect(head.status).toBe(429);
    const root = await fetch(`${proxy.url}/`);
    expect(root.status).toBe(429);
    expect(await root.text()).toContain('busy');
    expect(seen).toEqual(['HEAD /', 'GET /']);
    expect(recordedRequests(dbPath)).toEqual([]);
    expect(readRows(dbPath, 'SELECT * FROM rate_limit_events')).toEqual([]);

    // The API call right after is forwarded: no cooldown was started by the checks.
    seen = [];
    const call = await postJson(`${proxy.url}/v1/messages`, anthropicBody(), { 'x-api-key': 'k' });
    expect(call.status).toBe(200);
    expect(seen).toEqual(['POST /v1/messages']);
    expect(recordedRequests(dbPath)).toHaveLength(1);
  });
});
