import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, anthropicBody, rawRequest, recordedRequests } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

interface Arrival {
  method: string;
  body: string;
  reused: boolean;
}

/**
 * An upstream that answers the first request on each connection normally (keep-alive) and, on
 * the connection's second request, reads the whole body and then resets the connection: the
 * request reached it, but no answer comes back.
 */
async function resettingUpstream(resetWhen: (arrival: Arrival) => boolean) {
  const arrivals: Arrival[] = [];
  const served = new WeakMap<Socket, number>();
  const upstream = await harness.upstream((request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    const count = (served.get(socket) ?? 0) + 1;
    served.set(socket, count);
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.once('end', () => {
      const arrival = { method: request.method ?? '', body: Buffer.concat(chunks).toString(), reused: count > 1 };
      arrivals.push(arrival);
      if (arrival.reused && resetWhen(arrival)) {
        socket.resetAndDestroy();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive' });
      response.end('{"type":"message","usage":{"input_tokens":4,"output_tokens":6}}');
    });
  });
  return { upstream, arrivals };
}

const post = (url: string, body: string) =>
  rawRequest(url, { method: 'POST', path: '/v1/messages', headers: ['Content-Type', 'application/json'], body });

describe('a request whose bytes may have reached the upstream is never resent (issue 9 item 3)', () => {
  it('a POST the upstream read before resetting a reused connection reaches it once: 502, and its reservation is spent', async () => {
    const { upstream, arrivals } = await resettingUpstream(() => true);
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' });

    expect((await post(proxy.url, anthropicBody({ max_tokens: 10 }))).status).toBe(200);
    const second = await post(proxy.url, anthropicBody({ max_tokens: 77, note: 'second' }));

    expect(second.status).toBe(502);
    expect(second.headers['x-ratewarden-reason']).toBe('upstream-unreachable');
    const seconds = arrivals.filter((arrival) => arrival.body.includes('second'));
    expect(seconds).toHaveLength(1);
    expect(seconds[0]?.reused).toBe(true);
    expect(arrivals).toHaveLength(2);
    await proxy.close();
    const rows = recordedRequests(dbPath);
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ outcome: 'unreachable', output_tokens: 77 });
    expect(rows[1]?.input_tokens).toBe(rows[1]?.est_input_tokens);
  });

  it('a GET (idempotent) on a reused connection that was reset is sent again on a fresh one and succeeds', async () => {
    const { upstream, arrivals } = await resettingUpstream((arrival) => arrival.method === 'GET');
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' });

    expect((await post(proxy.url, anthropicBody())).status).toBe(200);
    const listed = await rawRequest(proxy.url, { method: 'GET', path: '/v1/models' });

    expect(listed.status).toBe(200);
    expect(arrivals.map((arrival) => [arrival.method, arrival.reused])).toEqual([
      ['POST', false],
      ['GET', true],
      ['GET', false],
    ]);
    await proxy.close();
    expect(recordedRequests(dbPath).map((row) => row.outcome)).toEqual(['ok', 'ok']);
  });

  it('a refused connection sent nothing: 502, and the reservation is given back', async () => {
    const { upstream } = await resettingUpstream(() => false);
    const downUrl = upstream.url;
    await upstream.close();
    const { proxy, dbPath } = await harness.proxy({ upstream: downUrl, provider: 'anthropic' });
    expect((await post(proxy.url, anthropicBody())).status).toBe(502);
    await proxy.close();
    expect(recordedRequests(dbPath)).toMatchObject([{ outcome: 'unreachable', input_tokens: 0, output_tokens: 0 }]);
  });
});
