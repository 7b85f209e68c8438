import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export interface TestDatabase {
  /** A URL to a database of its own, with the server's superuser credentials. */
  readonly url: string;
  readonly name: string;
  /** Drops it, ending any session still connected. */
  drop(): Promise<void>;
}

/** A fresh, empty database on the run's test server: call in beforeAll, drop in afterAll. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = inject('postgresUrl');
  if (!serverUrl) throw new Error('no test PostgreSQL server: run *.pg.test.ts files through the postgres vitest project');
  const name = `rw_test_${randomBytes(6).toString('hex')}`;
  await asSuperuser(serverUrl, `CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    name,
    drop: () => asSuperuser(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function asSuperuser(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
