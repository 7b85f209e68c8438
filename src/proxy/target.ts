/** What the client asked for, reduced to what may reach the upstream: a path and a query. */
export interface RequestTarget {
  /** Without the query string, which may carry secrets: this is what is logged and stored. */
  path: string;
  pathAndQuery: string;
}

/**
 * Reads a request target. An absolute-form target (`GET http://elsewhere/x`) keeps only its path
 * and query: the destination is always the configured upstream. Null for anything else
 * (`*`, garbage).
 */
export function parseTarget(rawUrl: string | undefined): RequestTarget | null {
  const raw = rawUrl ?? '';
  if (raw.startsWith('/')) {
    const queryAt = raw.indexOf('?');
    return { path: queryAt === -1 ? raw : raw.slice(0, queryAt), pathAndQuery: raw };
  }
  try {
    const absolute = new URL(raw);
    if (absolute.protocol !== 'http:' && absolute.protocol !== 'https:') return null;
    return { path: absolute.pathname, pathAndQuery: `${absolute.pathname}${absolute.search}` };
  } catch {
    return null;
  }
}

/** The upstream's own path prefix (`https://gateway.example/anthropic`) goes in front. */
export function upstreamPathFor(upstream: URL, target: RequestTarget): string {
  const prefix = upstream.pathname.replace(/\/+$/, '');
  return `${prefix}${target.pathAndQuery}`;
}

export const reservedPrefix = '/_ratewarden/';

export function isReserved(path: string): boolean {
  return path === '/_ratewarden' || path.startsWith(reservedPrefix);
}
