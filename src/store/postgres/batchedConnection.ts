import type pg from 'pg';
import { run, type Queryable } from './statements.js';

/** A statement and its values, as the repositories write them ($1, $2, … in the text). */
export interface Statement {
  text: string;
  values: readonly unknown[];
}

/**
 * A writing transaction's connection, which sends what an event writes in as few round trips as
 * it can. The pool's connections pipeline (node-postgres' `pipeline` mode: a statement is sent
 * without waiting for the answer to the one before, and the server answers them in order), so:
 * - a write whose answer the event does not need is sent at once and not waited for; its answer
 *   is collected with the next read's, or with COMMIT's;
 * - the reads of a load step are sent together and waited for together.
 * An event that reads, decides and writes thus waits for one round trip to load and one to
 * apply and commit, and the scope's row lock is held for the decide step and one round trip, not
 * for a round trip per statement. Every statement stays a prepared one (planned once per
 * connection), and every one reaches the server in the order the event issued it, so a read sees
 * every write before it.
 *
 * A failed statement fails the transaction: the server refuses the statements after it, and
 * answers COMMIT with a rollback. What the event sees is the first failure, at its next read or
 * at commit, never a commit that did not happen.
 */
export class BatchedConnection implements Queryable {
  /** The writes sent and not yet answered. */
  private unanswered: Promise<unknown>[] = [];
  private firstFailure: { error: unknown } | null = null;

  constructor(private readonly client: pg.ClientBase) {}

  /** Sent now; its answer is collected with the next read's, or with COMMIT's. */
  defer(statement: Statement): void {
    const answered = run(this.client, statement.text, [...statement.values]).catch((error: unknown) => {
      this.firstFailure ??= { error };
    });
    this.unanswered.push(answered);
  }

  /** A read (or a write whose answer is needed), after whatever was sent before it. */
  async query<Row extends pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<Row>> {
    const [result] = await this.settled([this.client.query<Row>(config)]);
    return result as pg.QueryResult<Row>;
  }

  /** Several reads sent together, each a statement of its own (with its own snapshot): their results in order. */
  queryAll(statements: readonly Statement[]): Promise<pg.QueryResult[]> {
    return this.settled(statements.map((statement) => run(this.client, statement.text, [...statement.values])));
  }

  /** COMMIT, once every write before it was answered without a failure. */
  async commit(): Promise<void> {
    const [answer] = await this.settled([this.client.query('COMMIT')]);
    // The server answers COMMIT of a failed transaction with a rollback, not an error.
    if (answer?.command === 'ROLLBACK') throw new Error('the transaction failed before its COMMIT and was rolled back');
  }

  /** Waits for `sent` and for every write sent before it; the first failure of all, if any, is thrown. */
  private async settled<T>(sent: Promise<T>[]): Promise<T[]> {
    const writes = this.unanswered;
    this.unanswered = [];
    const results = await Promise.allSettled(sent);
    await Promise.all(writes);
    if (this.firstFailure !== null) throw this.firstFailure.error;
    return results.map((result) => {
      if (result.status === 'rejected') throw result.reason;
      return result.value;
    });
  }
}

/** Runs `statement` now, or sends it without waiting when the connection batches (the statement's answer is not needed). */
export async function write(client: Queryable, text: string, values: readonly unknown[]): Promise<void> {
  if (client instanceof BatchedConnection) client.defer({ text, values });
  else await run(client, text, [...values]);
}
