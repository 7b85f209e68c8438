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

/** The extra names a Connection header lists: they are hop-by-hop for this message too. Null when there are none. */
function namedByConnection(rawHeaders: readonly string[]): Set<string> | null {
  let named: Set<string> | null = null;
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    if ((rawHeaders[index] as string).toLowerCase() !== 'connection') continue;
    for (const token of (rawHeaders[index + 1] as string).split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '') (named ??= new Set()).add(name);
    }
  }
  return named;
}

/** Appends to `kept` the headers that cross the proxy, less those `dropped` names. */
function keep(rawHeaders: readonly string[], dropped: ReadonlySet<string> | null, kept: string[]): string[] {
  const named = namedByConnection(rawHeaders);
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    const name = rawHeaders[index] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named?.has(lower) === true || dropped?.has(lower) === true) continue;
    kept.push(name, rawHeaders[index + 1] as string);
  }
  return kept;
}

/**
 * The client's headers as the upstream receives them, in `rawHeaders` form (names as sent,
 * repeated headers kept). `bodyLength` is null for a request that had no body framing at all.
 */
export function upstreamRequestHeaders(rawHeaders: readonly string[], upstreamHost: string, bodyLength: number | null): string[] {
  const headers = keep(rawHeaders, REPLACED_ON_REQUEST, ['Host', upstreamHost]);
  if (bodyLength !== null) headers.push('Content-Length', String(bodyLength));
  return headers;
}

/** The upstream's headers as the client receives them; rate-limit headers included. */
export function clientResponseHeaders(rawHeaders: readonly string[]): string[] {
  return keep(rawHeaders, null, []);
}
