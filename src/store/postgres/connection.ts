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
 * The server ends any statement that runs longer than this (57014, store unavailable: 503). Above
 * the 5 s lock_timeout of a transaction (openStore.ts), so that a lock wait still ends as 55P03 and
 * is run again; far above what any of ratewarden's statements needs.
 */
export const statementTimeoutMs = 6_000;

/**
 * The client's own deadline for every query, for a server that cannot end it itself: frozen
 * (stopped, swapping, a network that drops packets silently). Without it a query would wait for
 * as long as TCP does, and the request with it; with it the connection is dropped and the event
 * fails closed (503 store-unavailable) after at most this long.
 */
export const queryDeadlineMs = statementTimeoutMs + 1_000;

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
    statement_timeout: statementTimeoutMs,
    query_timeout: queryDeadlineMs,
  };
}

export function openPostgresPool(url: string, options: PostgresConnectionOptions): pg.Pool {
  const pool = new pg.Pool(postgresPoolConfig(url, options));
  pool.on('error', options.onIdleConnectionError);
  return pool;
}
