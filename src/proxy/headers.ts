/** RFC 9110 §7.6.1: headers that describe one connection and never cross a proxy. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/*
 * Also dropped on the way up: the proxy sets Host to the upstream (the destination is pinned),
 * recomputes Content-Length from the body it read, and has already answered any
 * `Expect: 100-continue` itself.
 */
const REPLACED_ON_REQUEST = new Set(['host', 'content-length', 'expect']);

/** The extra names a Connection header lists: they are hop-by-hop for this message too. */
function namedByConnection(rawHeaders: readonly string[]): Set<string> {
  const named = new Set<string>();
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    if ((rawHeaders[index] as string).toLowerCase() !== 'connection') continue;
    for (const token of (rawHeaders[index + 1] as string).split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '') named.add(name);
    }
  }
  return named;
}

function keep(rawHeaders: readonly string[], dropped: (lowerName: string) => boolean): string[] {
  const named = namedByConnection(rawHeaders);
  const kept: string[] = [];
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    const name = rawHeaders[index] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower) || dropped(lower)) continue;
    kept.push(name, rawHeaders[index + 1] as string);
  }
  return kept;
}

/**
 * The client's headers as the upstream receives them, in `rawHeaders` form (names as sent,
 * repeated headers kept). `bodyLength` is null for a request that had no body framing at all.
 */
export function upstreamRequestHeaders(rawHeaders: readonly string[], upstreamHost: string, bodyLength: number | null): string[] {
  const headers = ['Host', upstreamHost, ...keep(rawHeaders, (name) => REPLACED_ON_REQUEST.has(name))];
  if (bodyLength !== null) headers.push('Content-Length', String(bodyLength));
  return headers;
}

/** The upstream's headers as the client receives them; rate-limit headers included. */
export function clientResponseHeaders(rawHeaders: readonly string[]): string[] {
  return keep(rawHeaders, () => false);
}
