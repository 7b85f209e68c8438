import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, anthropicBody, rawExchange, rawRequest, recordedRequests, lastScope } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

interface Echo {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  bodyBytes: number;
}

describe('forwarding to the pinned upstream', () => {
  it('keeps method, path and query, and sets Host to the upstream whatever the client said', async () => {
    const sim = await harness.sim();
    const { proxy } = await harness.proxy({ upstream: sim.url, provider: 'generic' });
    const answer = await rawRequest(proxy.url, {
      method: 'PUT',
      path: '/things/7?color=blue&n=2',
      headers: ['Host', 'evil.example', 'Content-Type', 'text/plain'],
      body: 'abc',
    });
    expect(answer.status).toBe(200);
    const echo = JSON.parse(answer.body.toString()) as Echo;
    expect(echo).toMatchObject({ method: 'PUT', path: '/things/7', query: { color: 'blue', n: '2' }, bodyBytes: 3 });
    expect(echo.headers.host).toBe(new URL(sim.url).host);
  });

  it('sends an absolute-form request target to the upstream, never to the host it names', async () => {
    const sim = await harness.sim();
    const { proxy } = await harness.proxy({ upstream: sim.url, provider: 'generic' });
    const said = await rawExchange(
      proxy.url,
      'GET http://evil.example:9/stolen?x=1 HTTP/1.1\r\nHost: evil.example:9\r\nConnection: close\r\n\r\n',
    );
    expect(said.startsWith('HTTP/1.1 200')).toBe(true);
    expect(sim.lastRequest()?.url).toBe('/stolen?x=1');
    expect(sim.lastRequest()?.headers.host).toBe(new URL(sim.url).host);
  });

  it('puts the upstream URL’s own path in front of the request path', async () => {
    const sim = await harness.sim();
    const { proxy } = await harness.proxy({ upstream: `${sim.url}/gateway/anthropic`, provider: 'generic' });
    await rawRequest(proxy.url, { path: '/v1/models?limit=2' });
    expect(sim.lastRequest()?.url).toBe('/gateway/anthropic/v1/models?limit=2');
  });

  it('drops hop-by-hop request headers and passes every other header, credentials included', async () => {
    const sim = await harness.sim();
    const { proxy } = await harness.proxy({ upstream: sim.url, provider: 'generic' });
    const answer = await rawRequest(proxy.url, {
      path: '/echo',
      headers: [
        'Connection',
        'keep-alive, X-Per-Hop',
        'X-Per-Hop',
        'private',
        'Keep-Alive',
        'timeout=30',
        'TE',
        'trailers',
        'Proxy-Authorization',
        'Basic cHJveHk6c2VjcmV0',
        'Upgrade',
        'websocket',
        'x-api-key',
        'sk-test-key',
        'Authorization',
        'Bearer sk-test-token',
        'anthropic-version',
        '2023-06-01',
        'X-Repeated',
        'one',
        'X-Repeated',
        'two',
      ],
    });
    const { headers } = JSON.parse(answer.body.toString()) as Echo;
    for (const dropped of ['x-per-hop', 'keep-alive', 'te', 'proxy-authorization', 'upgrade']) expect(headers).not.toHaveProperty(dropped);
    expect(headers.connection ?? '').not.toMatch(/x-per-hop/i);
    expect(headers).toMatchObject({
      'x-api-key': 'sk-test-key',
      authorization: 'Bearer sk-test-token',
      'anthropic-version': '2023-06-01',
      'x-repeated': 'one, two',
    });
  });

  it('drops hop-by-hop response headers and passes every other one, rate-limit headers included', async () => {
    const upstream = await harness.upstream((_request, response) => {
      response.writeHead(200, [
        'Content-Type',
        'application/json',
        'Connection',
        'X-Upstream-Hop',
        'X-Upstream-Hop',
        'private',
        'Proxy-Authenticate',
        'Basic',
        'anthropic-ratelimit-tokens-limit',
        '80000',
        'retry-after',
        '3',
        'Set-Cookie',
        'a=1',
        'Set-Cookie',
        'b=2',
      ]);
      response.end('{}');
    });
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' });
    const answer = await rawRequest(proxy.url, { path: '/v1/models' });
    expect(answer.headers).not.toHaveProperty('x-upstream-hop');
    expect(answer.headers).not.toHaveProperty('proxy-authenticate');
    expect(answer.headers).toMatchObject({ 'anthropic-ratelimit-tokens-limit': '80000', 'retry-after': '3', 'set-cookie': ['a=1', 'b=2'] });
  });

  it('answers 413 in the provider’s error shape for a body over --max-body, and forwards nothing', async () => {
    const sim = await harness.sim();
    const { proxy } = await harness.proxy({ upstream: sim.url, provider: 'anthropic', maxBody: '1kb' });
    const declared = await rawRequest(proxy.url, {
      method: 'POST',
      path: '/v1/messages',
      headers: ['Content-Type', 'application/json'],
      body: 'x'.repeat(2048),
    });
    expect(declared.status).toBe(413);
    expect(declared.headers['x-ratewarden-reason']).toBe('body-too-large');
    expect(JSON.parse(declared.body.toString())).toMatchObject({ type: 'error', error: { type: 'request_too_large' } });
    const chunked = await rawRequest(proxy.url, {
      method: 'POST',
      path: '/v1/messages',
      headers: ['Transfer-Encoding', 'chunked'],
      chunks: ['y'.repeat(700), 'y'.repeat(700)],
    });
    expect(chunked.status).toBe(413);
    expect(sim.stats().requests).toBe(0);
  });

  it('answers 502 with a JSON body when the upstream is down, and releases the reservation', async () => {
    const sim = await harness.sim();
    const downUrl = sim.url;
    await sim.close();
    const { proxy, dbPath } = await harness.proxy({ upstream: downUrl, provider: 'anthropic' });
    const answer = await rawRequest(proxy.url, {
      method: 'POST',
      path: '/v1/messages',
      headers: ['Content-Type', 'application/json'],
      body: anthropicBody(),
    });
    expect(answer.status).toBe(502);
    expect(answer.headers['x-ratewarden-reason']).toBe('upstream-unreachable');
    expect(JSON.parse(answer.body.toString())).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    // The settle was asked for before the answer went out; the store runs in order, so this read comes after it.
    expect((await proxy.warden.views.currentUsage(lastScope(proxy.warden))).tokens).toBe(0);
    expect(recordedRequests(dbPath)).toMatchObject([{ outcome: 'unreachable', input_tokens: 0, output_tokens: 0 }]);
  });

  it('answers 504 when the upstream does not start answering within --upstream-timeout; the upstream had the request, so its reservation is spent', async () => {
    const sim = await harness.sim();
    sim.setMode('hang');
    const { proxy, dbPath } = await harness.proxy({ upstream: sim.url, provider: 'openai', upstreamTimeout: '300ms' });
    const answer = await rawRequest(proxy.url, {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: ['Content-Type', 'application/json'],
      body: '{"max_tokens":5}',
    });
    expect(answer.status).toBe(504);
    expect(answer.headers['x-ratewarden-reason']).toBe('upstream-timeout');
    expect(JSON.parse(answer.body.toString())).toMatchObject({ error: { type: 'server_error', code: 'timeout' } });
    // The settle was asked for before the answer went out; the store runs in order, so this read comes after it.
    const usage = await proxy.warden.views.currentUsage(lastScope(proxy.warden));
    const [row] = recordedRequests(dbPath);
    expect(row).toMatchObject({ outcome: 'timeout', output_tokens: 5 });
    expect(row?.input_tokens).toBe(row?.est_input_tokens);
    expect(usage.tokens).toBe((row?.est_input_tokens ?? 0) + 5);
  });

  it('answers the health check and the reserved prefix itself, never forwarding them', async () => {
    const sim = await harness.sim();
    const { proxy } = await harness.proxy({ upstream: sim.url, provider: 'anthropic' });
    const health = await fetch(`${proxy.url}/_ratewarden/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'ok',
      pid: process.pid,
      upstream: sim.url,
      provider: 'anthropic',
      breaker: 'closed',
    });
    const unknown = await fetch(`${proxy.url}/_ratewarden/anything?x=1`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('x-ratewarden-reason')).toBe('reserved-path');
    expect((await fetch(`${proxy.url}/_ratewarden/health`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect(sim.stats().requests).toBe(0);
  });

  it('stores neither the query string nor any credential', async () => {
    const sim = await harness.sim();
    const { proxy, dbPath } = await harness.proxy({ upstream: sim.url, provider: 'anthropic' });
    const answer = await rawRequest(proxy.url, {
      method: 'POST',
      path: '/v1/messages?key=sk-query-secret-1',
      headers: ['Content-Type', 'application/json', 'x-api-key', 'sk-header-secret-2', 'Cookie', 'session=sk-cookie-secret-3'],
      body: anthropicBody(),
    });
    expect(answer.status).toBe(200);
    await proxy.close();
    expect(recordedRequests(dbPath)).toMatchObject([{ method: 'POST', path: '/v1/messages', outcome: 'ok' }]);
    const folder = dirname(dbPath);
    const stored = readdirSync(folder)
      .map((name) => readFileSync(join(folder, name)).toString('latin1'))
      .join('');
    for (const secret of ['sk-query-secret-1', 'sk-header-secret-2', 'sk-cookie-secret-3']) expect(stored).not.toContain(secret);
  });
});
