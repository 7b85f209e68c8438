import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openDatabase } from '../../../src/store/sqlite/open.js';
import { ProxyHarness, anthropicBody, postJson, rawRequest, recordedRequests } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

/** Starts a request and resolves once the first bytes of the answer arrived; `destroy` hangs up. */
function startStreamingRequest(baseUrl: string, path: string, body: string): Promise<{ destroy(): void }> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = httpRequest({
      host: url.hostname,
      port: url.port,
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json' },
    });
    request.once('error', () => undefined);
    request.once('response', (response) => {
      response.once('data', () => resolve({ destroy: () => request.destroy() }));
      response.once('error', () => undefined);
    });
    request.once('close', () => reject(new Error('closed before any answer')));
    request.end(body);
  });
}

describe('when something goes wrong', () => {
  it('a client that hangs up mid-stream aborts the upstream request; the tokens seen so far count', async () => {
    let upstreamClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => {
      upstreamClosed = resolve;
    });
    const upstream = await harness.upstream((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":100,"output_tokens":1}}}\n\n');
      response.write('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":5}}\n\n');
      response.once('close', () => {
        if (!response.writableFinished) upstreamClosed();
      });
    });
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' });
    const client = await startStreamingRequest(proxy.url, '/v1/messages', '{"max_tokens":1000}');
    client.destroy();
    await closed;
    await proxy.close();
    expect(recordedRequests(dbPath)).toMatchObject([{ outcome: 'aborted', input_tokens: 100, output_tokens: 5 }]);
  });

  it('a client that hangs up before any answer aborts the upstream request; its reservation counts', async () => {
    let arrived: () => void = () => undefined;
    const arrival = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    let upstreamClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => {
      upstreamClosed = resolve;
    });
    const upstream = await harness.upstream((request, response) => {
      request.resume();
      arrived();
      response.once('close', () => upstreamClosed());
    });
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' });
    const controller = new AbortController();
    const hangingUp = fetch(`${proxy.url}/v1/messages`, {
      method: 'POST',
      body: anthropicBody({ max_tokens: 88 }),
      signal: controller.signal,
    }).catch(() => 'hung up');
    await arrival;
    controller.abort();
    expect(await hangingUp).toBe('hung up');
    await closed;
    await proxy.close();
    const [row] = recordedRequests(dbPath);
    expect(row).toMatchObject({ outcome: 'aborted', output_tokens: 88 });
    expect(row?.input_tokens).toBe(row?.est_input_tokens);
  });

  it('answers 503 and forwards nothing while the store cannot be written, then recovers', async () => {
    const sim = await harness.sim();
    const { proxy, dbPath } = await harness.proxy({ upstream: sim.url, provider: 'anthropic' }, { busyTimeoutMs: 100 });
    const locker = openDatabase(dbPath);
    try {
      locker.exec('BEGIN EXCLUSIVE');
      const refused = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
      expect(refused.status).toBe(503);
      expect(refused.headers.get('x-ratewarden-reason')).toBe('store-unavailable');
      expect(await refused.json()).toMatchObject({
        type: 'error',
        error: { type: 'api_error', message: expect.stringMatching(/cannot record this request/) },
      });
      const health = await fetch(`${proxy.url}/_ratewarden/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: 'unavailable' });
      expect(sim.stats().requests).toBe(0);
      locker.exec('ROLLBACK');
    } finally {
      locker.close();
    }
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(200);
    expect(sim.stats().requests).toBe(1);
  });

  it('on close, lets an in-flight request finish and settles it before the database closes', async () => {
    // The upstream holds the request until the test lets it go: the close begins while it is in flight, by construction.
    let arrived: () => void = () => undefined;
    const arrival = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const upstream = await harness.upstream((request, response) => {
      request.resume();
      arrived();
      void released.then(() => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"ok":true}');
      });
    });
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', stopTimeout: '30s' });
    const inFlight = rawRequest(proxy.url, { method: 'POST', path: '/slow', headers: ['Content-Type', 'application/json'], body: '{}' });
    await arrival;
    const closed = proxy.close();
    await expect(fetch(`${proxy.url}/v1/messages`, { method: 'POST', body: anthropicBody() })).rejects.toThrow();
    release();
    expect((await inFlight).status).toBe(200);
    await closed;
    expect(recordedRequests(dbPath)).toMatchObject([{ path: '/slow', outcome: 'ok', status: 200 }]);
  });

  it('on close, cuts off a request still running after the stop timeout and settles it as aborted', async () => {
    const sim = await harness.sim();
    sim.setMode('hang');
    const { proxy, dbPath } = await harness.proxy({ upstream: sim.url, provider: 'anthropic' });
    const stuck = rawRequest(proxy.url, {
      method: 'POST',
      path: '/v1/messages',
      headers: ['Content-Type', 'application/json'],
      body: anthropicBody(),
    }).catch(() => 'cut off');
    // The close must begin once the request is in flight: wait until the upstream has it.
    await vi.waitFor(() => expect(sim.lastRequest()).not.toBeNull(), { timeout: 20_000, interval: 20 });
    await proxy.close(300);
    expect(await stuck).toBe('cut off');
    expect(recordedRequests(dbPath)).toMatchObject([{ outcome: 'aborted', output_tokens: 30 }]);
  });
});
