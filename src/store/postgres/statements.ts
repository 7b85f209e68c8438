import { createHash } from 'node:crypto';
import type pg from 'pg';

/** What a repository needs of its connection: the one client its transaction runs on (or the batch in front of it, batchedConnection.ts). */
export interface Queryable {
  query<Row extends pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<Row>>;
}

const names = new Map<string, string>();

/**
 * Runs `text` as a named prepared statement: parsed and planned once per connection, then only
 * bound and executed, which is most of an admission's cost on a loopback server. The name is a
 * digest of the text, so the same text always gets the same name (node-postgres prepares a
 * name once per connection and refuses another text under it).
 */
export async function run<Row extends pg.QueryResultRow>(
  client: Queryable,
  text: string,
  values: unknown[] = [],
): Promise<pg.QueryResult<Row>> {
  let name = names.get(text);
  if (name === undefined) {
    name = `rw_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    names.set(text, name);
  }
  return client.query<Row>({ name, text, values });
}

export async function rowsOf<Row extends pg.QueryResultRow>(client: Queryable, text: string, values: unknown[] = []): Promise<Row[]> {
  return (await run<Row>(client, text, values)).rows;
}

export async function firstRow<Row extends pg.QueryResultRow>(
  client: Queryable,
  text: string,
  values: unknown[] = [],
): Promise<Row | undefined> {
  return (await run<Row>(client, text, values)).rows[0];
}

/** A bound for a BIGINT comparison: the port's callers may pass ±Infinity ("no bound"), which BIGINT cannot hold. */
export function bigintBound(value: number): number {
  if (value === Number.NEGATIVE_INFINITY) return Number.MIN_SAFE_INTEGER;
  if (value === Number.POSITIVE_INFINITY) return Number.MAX_SAFE_INTEGER;
  return value;
}
