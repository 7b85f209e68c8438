import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestDatabase {
  /** A URL to a database of its own, with the server's superuser credentials. */
  readonly url: string;
  readonly name: string;
  /** Drops it, ending any session still connected. */
  drop(): Promise<void>;
}

/** A fresh, empty database named `<prefix>_<random>` on the server a superuser's URL names (the tests' and the benchmarks'). */
export async function createDatabaseOn(serverUrl: string, prefix: string): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
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
