import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { forward, type ExchangeRecorder } from '../../../src/proxy/forward.js';
import { providerAdapter } from '../../../src/proxy/providers/adapter.js';
import { upstreamTransport } from '../../../src/proxy/upstreamAgent.js';

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function listening(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('relaying an upstream 429 (issue 15)', () => {
  it('sends the client nothing of the 429 until its record (the cooldown) has settled', async () => {
    const upstream = await listening(
      createServer((request, response) => {
        request.resume();
        response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '5' });
        response.end('{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}');
      }),
    );
    let recorded = false;
    let finishRecord: () => void = () => undefined;
    let rateLimitedCalled: () => void = () => undefined;
    const recordAsked = new Promise<void>((resolve) => (rateLimitedCalled = resolve));
    const recorder: ExchangeRecorder = {
      rateLimited: () => {
        rateLimitedCalled();
        return new Promise<void>((resolve) => {
          finishRecord = () => {
            recorded = true;
            resolve();
          };
        });
      },
      headArrived: () => undefined,
      answered: () => undefined,
      cutShort: () => undefined,
      failed: () => undefined,
    };
    let relayed: ServerResponse | null = null;
    const setup = { upstream: new URL(upstream), transport: upstreamTransport(new URL(upstream)), upstreamTimeoutMs: 10_000 };
    const proxy = await listening(
      createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        relayed = response;
        request.on('end', () => {
          const body = Buffer.concat(chunks);
          void forward(
            setup,
            { request, response, body, bodyLength: body.length, upstreamPath: '/v1/messages', provider: providerAdapter('anthropic') },
            recorder,
          );
        });
      }),
    );

    const answer = new Promise<{ status: number | undefined; recordedFirst: boolean; body: string }>((resolve, reject) => {
      const sent = httpRequest(
        `${proxy}/v1/messages`,
        { method: 'POST', headers: { 'content-type': 'application/json' } },
        (response: IncomingMessage) => {
          const recordedFirst = recorded;
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode, recordedFirst, body }));
        },
      );
      sent.on('error', reject);
      sent.end('{"model":"claude","max_tokens":10,"messages":[]}');
    });
    // The handshake: the upstream's 429 reached the forwarder, which asked for its record. The
    // forwarder has had its turn since: it must still be waiting, not one header sent.
    await recordAsked;
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(relayed).not.toBeNull();
    expect((relayed as ServerResponse | null)?.headersSent).toBe(false);
    finishRecord();
    expect(await answer).toEqual({ status: 429, recordedFirst: true, body: expect.stringContaining('slow down') });
    setup.transport.agent.destroy();
  });
});
