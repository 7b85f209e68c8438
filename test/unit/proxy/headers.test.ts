import { describe, expect, it } from 'vitest';
import { clientResponseHeaders, upstreamRequestHeaders } from '../../../src/proxy/headers.js';

describe('headers across the proxy', () => {
  it('drops hop-by-hop request headers, the ones Connection names, Host, Content-Length and Expect', () => {
    const raw = [
      'Host',
      'localhost:8787',
      'Connection',
      'keep-alive, X-Hop',
      'X-Hop',
      '1',
      'keep-alive',
      'timeout=5',
      'Transfer-Encoding',
      'chunked',
      'Content-Length',
      '999',
      'Expect',
      '100-continue',
      'TE',
      'trailers',
      'Proxy-Authorization',
      'x',
      'x-api-key',
      'secret',
      'Accept',
      'a',
      'accept',
      'b',
    ];
    expect(upstreamRequestHeaders(raw, 'api.anthropic.com', 12)).toEqual([
      'Host',
      'api.anthropic.com',
      'x-api-key',
      'secret',
      'Accept',
      'a',
      'accept',
      'b',
      'Content-Length',
      '12',
    ]);
  });

  it('sends no Content-Length for a request that had no body framing', () => {
    expect(upstreamRequestHeaders(['Accept', '*/*'], 'example.com:8443', null)).toEqual(['Host', 'example.com:8443', 'Accept', '*/*']);
  });

  it('keeps Content-Length and every end-to-end response header, repeated ones included', () => {
    const raw = [
      'Content-Length',
      '2',
      'Connection',
      'close',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'Trailer',
      'x',
      'Upgrade',
      'h2c',
      'retry-after',
      '7',
    ];
    expect(clientResponseHeaders(raw)).toEqual(['Content-Length', '2', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'retry-after', '7']);
  });
});
