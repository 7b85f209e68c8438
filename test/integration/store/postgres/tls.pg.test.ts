import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresPool } from '../../../../src/store/postgres/connection.js';
import { classifyPostgresError } from '../../../../src/store/postgres/errors.js';
import { startPostgresServer, type PostgresServer } from '../../../helpers/postgresServer.js';

// Self-signed for 127.0.0.1 and localhost; it is its own CA.
const certFile = fileURLToPath(new URL('../../../fixtures/tls/upstream-cert.pem', import.meta.url));
const keyFile = fileURLToPath(new URL('../../../fixtures/tls/upstream-key.pem', import.meta.url));

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgresServer({ tls: { certFile, keyFile } });
});
afterAll(async () => {
  await server.stop();
});

function withParams(params: Record<string, string>): string {
  const url = new URL(server.url);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.href;
}

/** Whether the session that answers is encrypted, as the server sees it. */
async function sessionUsesTls(url: string): Promise<boolean> {
  const pool = openPostgresPool(url, { onIdleConnectionError: () => undefined });
  try {
    const result = await pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return result.rows[0]!.ssl;
  } finally {
    await pool.end();
  }
}

async function connectFailure(url: string): Promise<unknown> {
  const pool: pg.Pool = openPostgresPool(url, { onIdleConnectionError: () => undefined });
  try {
    await pool.query('SELECT 1');
    throw new Error('expected the connection to be refused');
  } catch (error) {
    return error;
  } finally {
    await pool.end();
  }
}

describe('TLS to the server, from the URL', () => {
  it('sslmode=verify-full with sslrootcert: an encrypted session to a verified server', async () => {
    expect(await sessionUsesTls(withParams({ sslmode: 'verify-full', sslrootcert: certFile }))).toBe(true);
  });

  it('a URL without sslmode: a plain session', async () => {
    expect(await sessionUsesTls(server.url)).toBe(false);
  });

  it('sslmode=verify-full without the CA: refused, and reported as a configuration problem, not an outage', async () => {
    const error = await connectFailure(withParams({ sslmode: 'verify-full' }));
    expect((error as Error).message).toMatch(/self[- ]signed certificate/);
    expect(classifyPostgresError(error).kind).toBe('other');
  });

  it('PGSSLMODE applies when the URL names no sslmode', async () => {
    const previous = process.env.PGSSLMODE;
    process.env.PGSSLMODE = 'no-verify';
    try {
      expect(await sessionUsesTls(server.url)).toBe(true);
    } finally {
      if (previous === undefined) delete process.env.PGSSLMODE;
      else process.env.PGSSLMODE = previous;
    }
  });
});
