import { PostgresUrlError, redactPostgresUrl } from './url.js';

/**
 * `sslmode` with libpq's meanings (https://www.postgresql.org/docs/current/libpq-ssl.html), which
 * node-postgres 8 does not follow by default: it takes `prefer`, `require` and `verify-ca` as
 * `verify-full` (and says so in a ten-line warning), so `sslmode=require` against a server with
 * a self-signed certificate fails. ratewarden asks node-postgres for libpq's meanings
 * (`uselibpqcompat=true`) whenever a mode is named, in the URL or, when the URL names none, in
 * PGSSLMODE:
 * - `disable`: no TLS.
 * - `prefer`, `require`: encrypted, the certificate not verified (with `sslrootcert`, `require`
 *   verifies the CA, as libpq does). Unlike libpq, `prefer` does not fall back to a plain
 *   session when the server has no TLS.
 * - `verify-ca`: encrypted, the certificate signed by the CA in `sslrootcert` (required), any host name.
 * - `verify-full`: encrypted, the CA and the host name verified (the default CA store without `sslrootcert`).
 * `no-verify` (node-postgres's own) keeps its meaning; a URL that sets `uselibpqcompat` itself is left as it is.
 */
const libpqModes = new Set(['disable', 'prefer', 'require', 'verify-ca', 'verify-full']);

export function withLibpqSslModes(url: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  const parsed = new URL(url);
  const params = parsed.searchParams;
  if (params.has('uselibpqcompat')) return url;
  const mode = params.get('sslmode') ?? env.PGSSLMODE;
  if (mode === undefined || mode === '' || mode === 'no-verify') return url;
  if (!libpqModes.has(mode)) {
    throw new PostgresUrlError(
      `--db ${redactPostgresUrl(url)}: sslmode=${mode} is not one ratewarden supports; use disable, prefer, require, verify-ca or verify-full`,
    );
  }
  if (mode === 'verify-ca' && !params.has('sslrootcert')) {
    throw new PostgresUrlError(
      `--db ${redactPostgresUrl(url)}: sslmode=verify-ca needs the CA that signed the server's certificate: add sslrootcert=/path/to/ca.pem (or use sslmode=require to encrypt without verifying)`,
    );
  }
  params.set('sslmode', mode);
  params.set('uselibpqcompat', 'true');
  return parsed.href;
}

/** The errors Node's TLS gives when the server's certificate cannot be verified. */
const certificateCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** One line naming the fix when `error` is the server's certificate failing verification; null otherwise. */
export function certificateProblem(error: unknown, location: string): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !certificateCodes.has(code)) return null;
  const why = error instanceof Error ? error.message.split('\n')[0] : code;
  return `database ${location}: the server's TLS certificate cannot be verified (${why}); add sslrootcert=/path/to/ca.pem naming the CA that signed it (sslmode=verify-full also checks the host name, verify-ca does not), or use sslmode=require to encrypt without verifying`;
}
