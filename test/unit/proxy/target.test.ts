import { describe, expect, it } from 'vitest';
import { isReserved, parseTarget, removeDotSegments, upstreamPathFor } from '../../../src/proxy/target.js';

describe('request targets', () => {
  it('reads origin-form targets, keeping the query apart from the path', () => {
    expect(parseTarget('/v1/messages?beta=true')).toEqual({
      ok: true,
      target: { path: '/v1/messages', pathAndQuery: '/v1/messages?beta=true' },
    });
  });

  it('keeps only the path and query of an absolute-form target', () => {
    expect(parseTarget('http://evil.example:81/v1/x?y=1')).toEqual({ ok: true, target: { path: '/v1/x', pathAndQuery: '/v1/x?y=1' } });
  });

  it('judges an absolute-form target by the path it spelled', () => {
    expect(parseTarget('http://evil.example/v1/../../admin')).toEqual({ ok: false, problem: 'climbs-out' });
    expect(parseTarget('http://evil.example?x=1#frag')).toEqual({ ok: true, target: { path: '/', pathAndQuery: '/?x=1' } });
    expect(parseTarget('https://evil.example')).toEqual({ ok: true, target: { path: '/', pathAndQuery: '/' } });
  });

  it('refuses targets that are not a path', () => {
    for (const raw of ['*', 'ftp://example.com/x', undefined]) expect(parseTarget(raw)).toEqual({ ok: false, problem: 'unsupported' });
  });

  it('removes dot segments, plain or percent-encoded, keeping every other byte as sent', () => {
    expect(removeDotSegments('/v1/x/../messages')).toBe('/v1/messages');
    expect(removeDotSegments('/v1/./models/%2e/a%20b')).toBe('/v1/models/a%20b');
    expect(removeDotSegments('/v1/models/%2E%2e')).toBe('/v1/');
    expect(removeDotSegments('/v1/..')).toBe('/');
    expect(removeDotSegments('/v1/...')).toBe('/v1/...');
    expect(parseTarget('/v1/x/%2e%2e/messages?q=..')).toEqual({
      ok: true,
      target: { path: '/v1/messages', pathAndQuery: '/v1/messages?q=..' },
    });
  });

  it('refuses a path that climbs above its root, however the dots and slashes are spelled', () => {
    for (const raw of [
      '/..',
      '/../admin',
      '/%2e%2e/admin',
      '/.%2E/admin',
      '/v1/../../admin',
      '/v1/..%2f..%2fadmin',
      '/v1/..%5c..%5cadmin',
      '/v1/..\\..\\admin',
      '/v1/%2e%2e/%2e%2e/admin',
    ]) {
      expect(parseTarget(raw), raw).toEqual({ ok: false, problem: 'climbs-out' });
    }
  });

  it('puts the upstream’s path prefix in front', () => {
    const target = { path: '/v1/models', pathAndQuery: '/v1/models?limit=1' };
    expect(upstreamPathFor(new URL('https://api.anthropic.com'), target)).toBe('/v1/models?limit=1');
    expect(upstreamPathFor(new URL('https://gateway.example/anthropic/'), target)).toBe('/anthropic/v1/models?limit=1');
  });

  it('reserves /_ratewarden and everything under it, nothing else', () => {
    expect(isReserved('/_ratewarden')).toBe(true);
    expect(isReserved('/_ratewarden/health')).toBe(true);
    expect(isReserved('/_ratewardenx')).toBe(false);
    expect(isReserved('/v1/_ratewarden/health')).toBe(false);
  });
});
