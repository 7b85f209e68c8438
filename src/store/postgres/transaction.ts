import type pg from 'pg';

export type IsolationLevel = 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';

/**
 * Runs `work` as one transaction on `client`: committed when it resolves, rolled back when it
 * (or the COMMIT, where a serializable transaction may fail) throws. The error is rethrown
 * as it came, for classifyPostgresError to judge.
 */
export async function inTransaction<T>(
  client: pg.ClientBase,
  isolation: IsolationLevel,
  work: (client: pg.ClientBase) => Promise<T>,
): Promise<T> {
  await client.query(`BEGIN ISOLATION LEVEL ${isolation}`);
  try {
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    // On a broken connection the ROLLBACK fails too; the server has rolled back already, and the
    // error worth reporting is the first one.
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
