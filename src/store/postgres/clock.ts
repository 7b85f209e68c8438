import type pg from 'pg';

/**
 * The database server's clock in milliseconds since the Unix epoch: the one clock every host of
 * a fleet shares, whatever their own clocks say.
 *
 * clock_timestamp(), not now(): now() is frozen at the start of the transaction, so a
 * transaction that waited for the scope's row lock would act at a time earlier than the one the
 * lock's previous holder already committed, and time would run backwards across events. Read
 * after taking the row lock, clock_timestamp() orders event times the way the lock orders the
 * events (as long as the server's own clock is not stepped back). Read it once per event and use
 * that one value for every decision in the transaction.
 */
export async function readServerClockMs(client: Pick<pg.ClientBase, 'query'>): Promise<number> {
  const result = await client.query<{ now_ms: string | number }>(serverClockSql);
  return serverClockOf(result.rows[0]);
}

/** The statement readServerClockMs runs, for callers that send it together with others. */
export const serverClockSql = 'SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms';

export function serverClockOf(row: { now_ms?: unknown } | undefined): number {
  if (row === undefined) throw new Error('the server returned no row for its clock');
  return Number(row.now_ms);
}
