import { describe, expect, it } from 'vitest';
import { isReserved, parseTarget, upstreamPathFor } from '../../../src/proxy/target.js';

describe('request targets', () => {
  it('reads origin-form targets, keeping the query apart from the path', () => {
    expect(parseTarget('/v1/messages?beta=true')).toEqual({ path: '/v1/messages', pathAndQuery: '/v1/messages?beta=true' });
  });

  it('keeps only the path and query of an absolute-form target', () => {
    expect(parseTarget('http://evil.example:81/v1/x?y=1')).toEqual({ path: '/v1/x', pathAndQuery: '/v1/x?y=1' });
  });

  it('refuses targets that are not a path', () => {
    expect(parseTarget('*')).toBeNull();
    expect(parseTarget('ftp://example.com/x')).toBeNull();
    expect(parseTarget(undefined)).toBeNull();
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
