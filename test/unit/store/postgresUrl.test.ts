import { describe, expect, it } from 'vitest';
import { postgresPoolConfig } from '../../../src/store/postgres/connection.js';
import { isPostgresUrl, parsePostgresUrl, PostgresUrlError, redactPostgresUrl } from '../../../src/store/postgres/url.js';

const noIdleErrors = { onIdleConnectionError: () => undefined };

describe('redactPostgresUrl', () => {
  it('masks the password and keeps user, host, port, database and TLS settings', () => {
    expect(redactPostgresUrl('postgres://warden:s3cret@db.internal:6432/limits?sslmode=verify-full')).toBe(
      'postgres://warden:***@db.internal:6432/limits?sslmode=verify-full',
    );
    expect(redactPostgresUrl('postgresql://warden:p%40ss%3Aword@10.0.0.5/limits')).toBe('postgresql://warden:***@10.0.0.5/limits');
  });

  it('masks password and sslpassword query parameters', () => {
    const shown = redactPostgresUrl('postgres://warden@db/limits?password=hunter2&sslpassword=keypass&sslmode=require');
    expect(shown).not.toMatch(/hunter2|keypass/);
    expect(shown).toBe('postgres://warden@db/limits?password=***&sslpassword=***&sslmode=require');
  });

  it('leaves a URL without secrets as it is', () => {
    expect(redactPostgresUrl('postgres://warden@db:5432/limits')).toBe('postgres://warden@db:5432/limits');
  });

  it('masks even a URL that does not parse, up to its last @', () => {
    const shown = redactPostgresUrl('postgres://warden:pa ss@wo rd@bad host/limits');
    expect(shown).not.toMatch(/pa ss|wo rd/);
    expect(shown).toBe('postgres://warden:***@bad host/limits');
  });
});

describe('parsePostgresUrl', () => {
  it('accepts postgres:// and postgresql:// URLs that name a host and a database', () => {
    expect(parsePostgresUrl('postgres://warden:x@127.0.0.1:5432/limits').hostname).toBe('127.0.0.1');
    expect(parsePostgresUrl('postgresql://warden@db/limits').pathname).toBe('/limits');
    expect(parsePostgresUrl('postgres:///limits?host=/run/postgresql').searchParams.get('host')).toBe('/run/postgresql');
    expect(isPostgresUrl('postgresql://db/x')).toBe(true);
    expect(isPostgresUrl('/var/lib/ratewarden.db')).toBe(false);
  });

  it.each([
    ['postgres://warden:s3cret@db.internal', /names no database/],
    ['postgres:///limits?user=warden&password=s3cret', /names no host/],
    ['mysql://warden:s3cret@db/limits', /is not a PostgreSQL URL/],
    ['postgres://warden:s3cret@db:notaport/limits', /is not a valid URL/],
  ])('refuses %s with one line that never shows the password', (url, problem) => {
    let caught: unknown;
    try {
      parsePostgresUrl(url);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PostgresUrlError);
    const message = (caught as Error).message;
    expect(message).toMatch(problem);
    expect(message).toMatch(/expected postgres:\/\/user:password@host:5432\/database/);
    expect(message).not.toMatch(/s3cret/);
    expect(message).not.toMatch(/\n/);
  });
});

describe('postgresPoolConfig', () => {
  it('hands the URL to node-postgres with a connect timeout and an application name', () => {
    const config = postgresPoolConfig('postgres://warden:x@db/limits?sslmode=verify-full', noIdleErrors);
    expect(config).toMatchObject({
      connectionString: 'postgres://warden:x@db/limits?sslmode=verify-full&uselibpqcompat=true',
      application_name: 'ratewarden',
      connectionTimeoutMillis: 5_000,
      max: 10,
    });
  });

  it('validates the URL first', () => {
    expect(() => postgresPoolConfig('postgres://warden:x@db', noIdleErrors)).toThrow(PostgresUrlError);
  });
});
