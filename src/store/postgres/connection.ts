import pg from 'pg';
import { withLibpqSslModes } from './sslModes.js';
import { parsePostgresUrl } from './url.js';

export interface PostgresConnectionOptions {
  /** Shown in pg_stat_activity, so an operator can tell ratewarden's sessions apart. */
  applicationName?: string;
  /** Give up connecting after this long: the caller fails closed instead of hanging. */
  connectTimeoutMs?: number;
  /** Connections the pool may hold. */
  maxConnections?: number;
  /**
   * An idle pooled connection broke (the server restarted, the network dropped it). The pool
   * has already discarded it and the next query reconnects; without a listener Node would throw.
   */
  onIdleConnectionError: (error: Error) => void;
}

const defaults = { applicationName: 'ratewarden', connectTimeoutMs: 5_000, maxConnections: 10 };

/**
 * node-postgres configuration for a `postgres://` URL. TLS is what node-postgres reads from the
 * URL (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `uselibpqcompat`) or, when the URL names
 * no sslmode, from PGSSLMODE, with libpq's meanings of each sslmode (sslModes.ts); a password
 * missing from the URL comes from PGPASSWORD.
 */
export function postgresPoolConfig(url: string, options: PostgresConnectionOptions): pg.PoolConfig {
  parsePostgresUrl(url);
  return {
    connectionString: withLibpqSslModes(url),
    application_name: options.applicationName ?? defaults.applicationName,
    connectionTimeoutMillis: options.connectTimeoutMs ?? defaults.connectTimeoutMs,
    max: options.maxConnections ?? defaults.maxConnections,
  };
}

export function openPostgresPool(url: string, options: PostgresConnectionOptions): pg.Pool {
  const pool = new pg.Pool(postgresPoolConfig(url, options));
  pool.on('error', options.onIdleConnectionError);
  return pool;
}
