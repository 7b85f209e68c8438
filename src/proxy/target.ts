/** What the client asked for, reduced to what may reach the upstream: a path and a query. */
export interface RequestTarget {
  /** Without the query string, which may carry secrets: this is what is logged and stored. */
  path: string;
  pathAndQuery: string;
}

/** Why a request target cannot be forwarded. */
export type TargetProblem = 'unsupported' | 'climbs-out';

export type ParsedTarget = { ok: true; target: RequestTarget } | { ok: false; problem: TargetProblem };

/**
 * Reads a request target and normalises its path. An absolute-form target
 * (`GET http://elsewhere/x`) keeps only its path and query: the destination is always the
 * configured upstream. `*` and garbage are unsupported; a path whose dot segments climb above
 * its root (`/../admin`, `/%2e%2e/admin`, `/v1/..%2f..%2fadmin`) is refused, because joined to
 * an upstream path prefix it would reach outside that prefix.
 */
export function parseTarget(rawUrl: string | undefined): ParsedTarget {
  const split = splitTarget(rawUrl ?? '');
  if (split === null) return { ok: false, problem: 'unsupported' };
  const path = removeDotSegments(split.path);
  if (path === null) return { ok: false, problem: 'climbs-out' };
  return { ok: true, target: { path, pathAndQuery: `${path}${split.query}` } };
}

function splitTarget(raw: string): { path: string; query: string } | null {
  if (raw.startsWith('/')) {
    const queryAt = raw.indexOf('?');
    return queryAt === -1 ? { path: raw, query: '' } : { path: raw.slice(0, queryAt), query: raw.slice(queryAt) };
  }
  try {
    const absolute = new URL(raw);
    if (absolute.protocol !== 'http:' && absolute.protocol !== 'https:') return null;
  } catch {
    return null;
  }
  // The path as sent, not as the URL parser rewrote it: its dot segments are judged like any other.
  const afterAuthority = raw.slice(raw.indexOf('//') + 2).search(/[/?#]/);
  const rest = afterAuthority === -1 ? '' : raw.slice(raw.indexOf('//') + 2 + afterAuthority).replace(/#.*$/s, '');
  return splitTarget(rest.startsWith('/') ? rest : `/${rest}`);
}

/** `.` and `..`, also percent-encoded (`%2e`, `.%2E`): RFC 3986 makes them the same segment. */
function dotSegment(segment: string): '.' | '..' | null {
  const decoded = segment.replace(/%2e/gi, '.');
  return decoded === '.' || decoded === '..' ? decoded : null;
}

/**
 * RFC 3986 remove_dot_segments over the path as sent (every other byte kept as it is), or null
 * when it climbs above the root. The climb is judged on the most generous reading an upstream
 * might apply: encoded slashes (`%2f`), backslashes and encoded backslashes (`%5c`) taken as
 * separators, so that no upstream's decoding can turn a refused path into an accepted one.
 */
export function removeDotSegments(path: string): string | null {
  // Most paths have no dot at all, encoded or not: nothing to remove, nothing that climbs.
  if (path.startsWith('/') && !path.includes('.') && !/%2e/i.test(path)) return path;
  if (climbsOut(path.replace(/%2f|%5c|\\/gi, '/'))) return null;
  const segments = path.split('/').slice(1);
  const kept: string[] = [];
  segments.forEach((segment, index) => {
    const dot = dotSegment(segment);
    const last = index === segments.length - 1;
    if (dot === null) kept.push(segment);
    else {
      if (dot === '..') kept.pop();
      // `/a/b/..` is `/a/`: a dot segment at the end leaves the trailing slash.
      if (last) kept.push('');
    }
  });
  return `/${kept.join('/')}`;
}

function climbsOut(path: string): boolean {
  let depth = 0;
  for (const segment of path.split('/')) {
    const dot = dotSegment(segment);
    if (dot === '..') depth -= 1;
    else if (dot === null && segment !== '') depth += 1;
    if (depth < 0) return true;
  }
  return false;
}

/** The upstream's own path prefix (`https://gateway.example/anthropic`) goes in front. */
export function upstreamPathFor(upstream: URL, target: RequestTarget): string {
  const prefix = upstream.pathname.replace(/\/+$/, '');
  return `${prefix}${target.pathAndQuery}`;
}

export const reservedPrefix = '/_ratewarden/';

/**
 * Whether a path names ratewarden's own endpoints, on the most generous reading an upstream or a
 * router in front of it might apply: percent-decoded (twice encoded too), in any case, with
 * backslashes as slashes and runs of slashes as one. `/%5Fratewarden/`, `/_RATEWARDEN/` and
 * `//_ratewarden` are all reserved, so none is ever forwarded as an ordinary request; only the
 * exact names are served (reserved.ts), every other spelling is refused.
 */
export function isReserved(path: string): boolean {
  if (path === '/_ratewarden' || path.startsWith(reservedPrefix)) return true;
  const canonical = canonicalForMatching(path);
  return canonical === '/_ratewarden' || canonical.startsWith(reservedPrefix);
}

function canonicalForMatching(path: string): string {
  let decoded = path;
  for (let round = 0; round < 3 && /%[0-9a-f]{2}/i.test(decoded); round += 1) {
    decoded = decoded.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  }
  const slashes = decoded.replace(/\\/g, '/').replace(/\/{2,}/g, '/');
  return (removeDotSegments(slashes) ?? slashes).toLowerCase();
}

/** The normalised path of a request target, or '' when it has none: enough to choose a provider. */
export function pathOf(rawUrl: string | undefined): string {
  const parsed = parseTarget(rawUrl);
  return parsed.ok ? parsed.target.path : '';
}
