import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, rawRequest, recordedRequests } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

const events = [
  'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":321,"output_tokens":1}}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":7}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
];

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

describe('streaming through the proxy', () => {
  it('delivers the first SSE event while the upstream is still holding back the rest', async () => {
    const release = deferred();
    const upstream = await harness.upstream((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(events[0]);
      // Nothing more until the client has seen the first event through the proxy.
      void release.promise.then(() => {
        for (const event of events.slice(1)) response.write(event);
        response.end();
      });
    });
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' });
    const received = await new Promise<string>((resolve, reject) => {
      const url = new URL(proxy.url);
      const request = httpRequest({
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: '/v1/messages',
        headers: { 'content-type': 'application/json' },
      });
      request.once('error', reject);
      request.once('response', (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          if (text === '') expect(chunk).toBe(events[0]);
          text += chunk;
          release.resolve();
        });
        response.once('end', () => resolve(text));
      });
      request.end('{"max_tokens":100}');
    });
    expect(received).toBe(events.join(''));
    await proxy.close();
    // Usage: message_start's input plus the LAST cumulative output count, not their sum.
    expect(recordedRequests(dbPath)).toMatchObject([{ outcome: 'ok', input_tokens: 321, output_tokens: 15 }]);
  });

  it('passes a gzip-compressed event stream through byte for byte, and still reads its usage', async () => {
    const compressed = gzipSync(events.join(''));
    const upstream = await harness.upstream((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' });
      // Split at odd places, so the proxy sees compressed pieces that decode to nothing whole.
      for (let at = 0; at < compressed.length; at += 7) response.write(compressed.subarray(at, at + 7));
      response.end();
    });
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' });
    const answer = await rawRequest(proxy.url, {
      method: 'POST',
      path: '/v1/messages',
      headers: ['Accept-Encoding', 'gzip'],
      body: '{"max_tokens":100}',
    });
    expect(answer.headers['content-encoding']).toBe('gzip');
    expect(answer.body.equals(compressed)).toBe(true);
    await proxy.close();
    expect(recordedRequests(dbPath)).toMatchObject([{ input_tokens: 321, output_tokens: 15 }]);
  });

  it('passes arbitrary binary bodies both ways unchanged', async () => {
    const upload = randomBytes(300_000);
    const download = randomBytes(500_000);
    let received = Buffer.alloc(0);
    const upstream = await harness.upstream((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.once('end', () => {
        received = Buffer.concat(chunks);
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': download.length });
        response.end(download);
      });
    });
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'generic' });
    const answer = await rawRequest(proxy.url, {
      method: 'POST',
      path: '/upload',
      headers: ['Content-Type', 'application/octet-stream'],
      body: upload,
    });
    expect(received.equals(upload)).toBe(true);
    expect(answer.headers['content-length']).toBe(String(download.length));
    expect(answer.body.equals(download)).toBe(true);
  });
});
