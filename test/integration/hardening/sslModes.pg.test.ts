import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresPool } from '../../../src/store/postgres/connection.js';
import { openPostgresStore } from '../../../src/store/postgres/openStore.js';
import { StoreError } from '../../../src/store/errors.js';
import { PostgresUrlError } from '../../../src/store/postgres/url.js';
import { startPostgresServer, type PostgresServer } from '../../helpers/postgresServer.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';
import { cliEnv, runCli } from '../../e2e/operatorCli.js';

/** Issue 26 item 8: sslmode follows libpq's meanings against a real TLS server with a self-signed certificate. */
const certFile = fileURLToPath(new URL('../../fixtures/tls/upstream-cert.pem', import.meta.url));
const keyFile = fileURLToPath(new URL('../../fixtures/tls/upstream-key.pem', import.meta.url));

let server: PostgresServer;
const warnings: string[] = [];
const onWarning = (warning: Error): void => {
  warnings.push(warning.message);
};
const dirs = new ScratchDirs();
const savedSslMode = process.env.PGSSLMODE;

beforeAll(async () => {
  server = await startPostgresServer({ tls: { certFile, keyFile } });
  process.on('warning', onWarning);
});
afterEach(() => {
  if (savedSslMode === undefined) delete process.env.PGSSLMODE;
  else process.env.PGSSLMODE = savedSslMode;
  dirs.removeAll();
});
afterAll(async () => {
  process.off('warning', onWarning);
  await server.stop();
});

function withParams(params: Record<string, string>, base = server.url): string {
  const url = new URL(base);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.href;
}

async function sessionUsesTls(url: string): Promise<boolean> {
  const pool = openPostgresPool(url, { onIdleConnectionError: () => undefined });
  try {
    return (await pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0]!.ssl;
  } finally {
    await pool.end();
  }
}

const failureOf = (work: () => Promise<unknown>): Promise<unknown> =>
  work().then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error,
  );

describe('sslmode as libpq means it', () => {
  it('require: encrypted without verifying the self-signed certificate, and no ten-line warning', async () => {
    expect(await sessionUsesTls(withParams({ sslmode: 'require' }))).toBe(true);
    expect(warnings.filter((warning) => /sslmode|SSL modes/i.test(warning))).toEqual([]);
  });

  it('PGSSLMODE=require when the URL names no mode: the same', async () => {
    process.env.PGSSLMODE = 'require';
    expect(await sessionUsesTls(server.url)).toBe(true);
  });

  it('verify-ca with the CA: encrypted and verified; without sslrootcert: refused in one line naming the fix', async () => {
    expect(await sessionUsesTls(withParams({ sslmode: 'verify-ca', sslrootcert: certFile }))).toBe(true);
    const error = await failureOf(() => sessionUsesTls(withParams({ sslmode: 'verify-ca' })));
    expect(error).toBeInstanceOf(PostgresUrlError);
    expect((error as Error).message).toMatch(
      /^--db postgres:\/\/.*: sslmode=verify-ca needs the CA that signed the server's certificate: add sslrootcert=\/path\/to\/ca.pem/,
    );
    expect((error as Error).message).not.toContain('\n');
  });

  it('verify-full without the CA: refused with one line that names what to set, at open and through the CLI (exit 3)', async () => {
    const url = withParams({ sslmode: 'verify-full' });
    const error = await failureOf(() => openPostgresStore({ url }));
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toMatch(
      /the server's TLS certificate cannot be verified \(self[- ]signed certificate\); add sslrootcert=\/path\/to\/ca.pem .* or use sslmode=require to encrypt without verifying$/,
    );
    const home = dirs.make('ratewarden-tls-');
    // The password through PGPASSWORD, as docs/fleet.md says: on the command line it would earn a warning line of its own.
    const withoutPassword = new URL(url);
    const password = decodeURIComponent(withoutPassword.password);
    withoutPassword.password = '';
    const result = await runCli(['status', '--db', withoutPassword.href], cliEnv(home, { PGPASSWORD: password }));
    expect(result.exitCode).toBe(3);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/add sslrootcert=/);
  });
});
