/**
 * `--db postgres://…` handling. A URL may carry a password (and `password=` / `sslpassword=` in
 * its query); nothing here ever puts one into an error message: every message shows the URL
 * through redactPostgresUrl.
 */

const schemes = new Set(['postgres:', 'postgresql:']);
const secretParams = ['password', 'sslpassword'];
const mask = '***';

/** The URL's problem, in one line that names the fix. */
export class PostgresUrlError extends Error {
  override readonly name = 'PostgresUrlError';
}

export const isPostgresUrl = (value: string): boolean => /^postgres(ql)?:\/\//i.test(value);

/** Validates a `postgres://` or `postgresql://` URL: a host and a database must be named. */
export function parsePostgresUrl(value: string): URL {
  const shown = redactPostgresUrl(value);
  const expected = 'expected postgres://user:password@host:5432/database';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new PostgresUrlError(`--db ${shown} is not a valid URL: ${expected}`);
  }
  if (!schemes.has(url.protocol)) {
    throw new PostgresUrlError(`--db ${shown} is not a PostgreSQL URL: ${expected}`);
  }
  if (url.hostname === '' && !url.searchParams.has('host')) {
    throw new PostgresUrlError(`--db ${shown} names no host: ${expected}`);
  }
  if (decodeURIComponent(url.pathname.slice(1)) === '') {
    throw new PostgresUrlError(`--db ${shown} names no database: ${expected}`);
  }
  return url;
}

/**
 * The URL as it may be shown or logged: `postgres://user:***@host/db`. The user name stays (an
 * operator needs it to tell two configurations apart); the password and any password-like query
 * parameter become ***. A string that does not parse is masked from the scheme's `//` on, up to
 * its last `@`, since the password's end cannot be known.
 */
export function redactPostgresUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):.*@/i, `$1:${mask}@`).replace(/((?:ssl)?password=)[^&#]*/gi, `$1${mask}`);
  }
  if (url.password !== '') url.password = mask;
  for (const name of secretParams) {
    if (url.searchParams.has(name)) url.searchParams.set(name, mask);
  }
  return url.href;
}
