import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { forward, type ExchangeRecorder } from '../../../src/proxy/forward.js';
import { providerAdapter } from '../../../src/proxy/providers/adapter.js';
import type { UpstreamTransport } from '../../../src/proxy/upstreamAgent.js';
import { ProxyHarness, rawRequest } from './harness.js';

/*
 * forward() on its own, between real servers on 127.0.0.1: a client, a bare forwarding server
 * (no admission, no store) and an upstream that notes every request it reads. What the exchange
 * reports is collected as it is reported.
 */

const harness = new ProxyHarness();
const agents: http.Agent[] = [];
afterEach(async () => {
  for (const agent of agents.splice(0)) agent.destroy();
  await harness.closeAll();
});

interface Arrival {
  method: string;
  body: string;
  /** Read on a connection that had carried a request before. */
  reused: boolean;
}

/** An upstream that answers 200 on a kept-alive connection, or resets it once it has read a request `resetWhen` picks. */
async function notingUpstream(resetWhen: (arrival: Arrival) => boolean = () => false) {
  const arrivals: Arrival[] = [];
  const served = new WeakMap<Socket, number>();
  const upstream = await harness.upstream((request: IncomingMessage, response: ServerResponse) => {
    const count = (served.get(request.socket) ?? 0) + 1;
    served.set(request.socket, count);
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.once('end', () => {
      const arrival = { method: request.method ?? '', body: Buffer.concat(chunks).toString(), reused: count > 1 };
      arrivals.push(arrival);
      if (resetWhen(arrival)) return void request.socket.resetAndDestroy();
      response.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive' });
      response.end('{"type":"message","usage":{"input_tokens":4,"output_tokens":6}}');
    });
  });
  return { upstream, arrivals };
}

/** The upstream's keep-alive transport, as the proxy builds it; `breakReused` picks the requests whose reused socket breaks before they are written. */
function transportTo(breakReused: (method: string) => boolean = () => false): UpstreamTransport {
  const agent = new http.Agent({ keepAlive: true, scheduling: 'lifo' });
  agents.push(agent);
  const request = (options: http.RequestOptions): http.ClientRequest => {
    // The socket the agent will hand out, if it reuses one: the only free one, since requests here go one at a time.
    const free = Object.values(agent.freeSockets).flat()[0];
    const sent = http.request(options);
    if (sent.reusedSocket && free !== undefined && breakReused(options.method ?? 'GET')) {
      // What the kernel reports when the upstream closed the kept-alive connection just as it was reused.
      free.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    }
    return sent;
  };
  return { request: request as typeof http.request, agent };
}

type Reported = [kind: 'headArrived' | 'answered' | 'cutShort' | 'failed' | 'rateLimited', ...details: unknown[]];

/** A server that forwards each request with forward() and keeps what each exchange reported. */
async function forwarder(upstreamUrl: string, transport: UpstreamTransport) {
  const reports: Reported[][] = [];
  const setup = { upstream: new URL(upstreamUrl), transport, upstreamTimeoutMs: 30_000 };
  const server = await harness.upstream((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.once('end', () => {
      const body = Buffer.concat(chunks);
      const framed = request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined;
      const reported: Reported[] = [];
      reports.push(reported);
      const recorder: ExchangeRecorder = {
        rateLimited: async (headers: IncomingHttpHeaders) => void reported.push(['rateLimited', headers['retry-after']]),
        headArrived: (status: number) => void reported.push(['headArrived', status]),
        answered: (status: number, _headers: IncomingHttpHeaders, usage: unknown) => void reported.push(['answered', status, usage]),
        cutShort: (usage: unknown) => void reported.push(['cutShort', usage]),
        failed: (kind: string, detail: string, reachedUpstream: boolean) => void reported.push(['failed', kind, detail, reachedUpstream]),
      };
      const input = {
        request,
        response,
        body,
        bodyLength: framed ? body.length : null,
        upstreamPath: request.url ?? '/',
        provider: providerAdapter('anthropic'),
      };
      void forward(setup, input, recorder);
    });
  });
  return { url: server.url, reports };
}

const post = (url: string, body: string) =>
  rawRequest(url, { method: 'POST', path: '/v1/messages', headers: ['Content-Type', 'application/json'], body });

describe('forward(): a request whose bytes may have reached the upstream is never resent; one that never left may be', () => {
  it('a POST whose kept-alive socket broke before any byte of it was written is sent again, on a fresh connection, and answered', async () => {
    const { upstream, arrivals } = await notingUpstream();
    const proxy = await forwarder(
      upstream.url,
      transportTo((method) => method === 'POST'),
    );

    expect((await post(proxy.url, '{"n":1}')).status).toBe(200);
    expect((await post(proxy.url, '{"n":2}')).status).toBe(200);

    expect(arrivals.map((arrival) => [arrival.body, arrival.reused])).toEqual([
      ['{"n":1}', false],
      ['{"n":2}', false],
    ]);
    expect(proxy.reports[1]).toEqual([
      ['headArrived', 200],
      ['answered', 200, { inputTokens: 4, outputTokens: 6 }],
    ]);
  });

  it('a POST the upstream read before resetting the kept-alive connection is not resent: 502, reported as having reached it', async () => {
    const { upstream, arrivals } = await notingUpstream((arrival) => arrival.reused);
    const proxy = await forwarder(upstream.url, transportTo());

    expect((await post(proxy.url, '{"n":1}')).status).toBe(200);
    const second = await post(proxy.url, '{"n":2}');

    expect(second.status).toBe(502);
    expect(second.headers['x-ratewarden-reason']).toBe('upstream-unreachable');
    expect(arrivals.map((arrival) => [arrival.body, arrival.reused])).toEqual([
      ['{"n":1}', false],
      ['{"n":2}', true],
    ]);
    expect(proxy.reports[1]).toEqual([['failed', 'unreachable', 'ECONNRESET', true]]);
  });

  it('a GET the upstream read before resetting the kept-alive connection is resent (idempotent) and answered', async () => {
    const { upstream, arrivals } = await notingUpstream((arrival) => arrival.reused && arrival.method === 'GET');
    const proxy = await forwarder(upstream.url, transportTo());

    expect((await post(proxy.url, '{"n":1}')).status).toBe(200);
    expect((await rawRequest(proxy.url, { method: 'GET', path: '/v1/models' })).status).toBe(200);

    expect(arrivals.map((arrival) => [arrival.method, arrival.reused])).toEqual([
      ['POST', false],
      ['GET', true],
      ['GET', false],
    ]);
    expect(proxy.reports[1]?.map(([kind]) => kind)).toEqual(['headArrived', 'answered']);
  });

  it('a refused connection carried nothing: 502 at once, not resent, reported as never having reached the upstream', async () => {
    const { upstream } = await notingUpstream();
    const downUrl = upstream.url;
    await upstream.close();
    const proxy = await forwarder(downUrl, transportTo());

    const answer = await post(proxy.url, '{"n":1}');

    expect(answer.status).toBe(502);
    expect(proxy.reports).toEqual([[['failed', 'unreachable', 'ECONNREFUSED', false]]]);
  });
});
