import { setImmediate as nextTurn } from 'node:timers/promises';
import type { TransactionQueue } from './transactionQueue.js';

/** What a group needs of the connection; each step throws what the store reports (classified). */
export interface GroupConnection {
  /** BEGIN IMMEDIATE, and whatever must be checked once a transaction holds the write lock. */
  begin(): void;
  commit(): void;
  /** Ends the transaction, if one is still open, keeping nothing of it. */
  abort(): void;
  inTransaction(): boolean;
  savepoint(): void;
  release(): void;
  rollbackToSavepoint(): void;
  /** Some of what this connection wrote was rolled back: anything derived from it is stale. */
  rolledBack(): void;
  classify(error: unknown): unknown;
}

interface Member {
  work: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface Group {
  members: Member[];
}

interface Done {
  member: Member;
  value: unknown;
}

/**
 * Bounds how long the first member of a busy group waits for its COMMIT, and how much one
 * failed COMMIT takes down with it.
 */
const maxGroupSize = 256;

/**
 * Group commit: the transactions asked while a group is open run in one BEGIN IMMEDIATE …
 * COMMIT, one after another, each inside its own SAVEPOINT, so that a failing one rolls back and
 * rejects alone. Every member's promise settles only after the COMMIT that made it durable.
 *
 * A group starts at once, in its caller's turn. The first group of a turn of the event loop
 * commits as soon as its members are done: a lone request (one connection, one request at a
 * time) waits for nothing, and the write lock is never held across a turn when idle. A second
 * group in the same turn means load: it stays open until the turn's I/O callbacks (the other
 * connections' requests) have run and joined it, and commits them all at once.
 */
export class GroupCommit {
  private open: Group | null = null;
  /** Groups started since the last check phase of the event loop. */
  private groupsThisTurn = 0;

  constructor(
    private readonly queue: TransactionQueue,
    private readonly connection: GroupConnection,
  ) {}

  run<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const member: Member = { work, resolve: resolve as (value: unknown) => void, reject };
      if (this.open !== null) {
        this.open.members.push(member);
        if (this.open.members.length >= maxGroupSize) this.open = null;
        return;
      }
      const group: Group = { members: [member] };
      this.open = group;
      if (this.groupsThisTurn++ === 0) {
        setImmediate(() => {
          this.groupsThisTurn = 0;
        });
      }
      // A group never rejects: its members are told one by one.
      void this.queue.run(() => this.runGroup(group));
    });
  }

  /** Asks nothing more of the open group: what is asked from now on runs after it (a read, the upkeep, close). */
  seal(): void {
    this.open = null;
  }

  private async runGroup(group: Group): Promise<void> {
    const { connection } = this;
    // The members since the current BEGIN that succeeded: they wait for its COMMIT.
    let done: Done[] = [];
    let next = 0;
    for (;;) {
      while (next < group.members.length) {
        const member = group.members[next++] as Member;
        if (!connection.inTransaction()) {
          try {
            connection.begin();
          } catch (error) {
            member.reject(error);
            continue;
          }
        }
        done = done.length === 0 ? await this.runFirst(member) : await this.runMember(member, done);
      }
      if (this.open !== group || this.groupsThisTurn <= 1) break;
      // Queued behind the turn-counter's reset (setImmediate runs in order): the next check of the count is in a new turn.
      await nextTurn();
      if (next >= group.members.length) break;
    }
    // Sealed with no await before the COMMIT, so no member can join and be missed.
    if (this.open === group) this.open = null;
    this.commit(done);
  }

  /** The first member since BEGIN needs no savepoint: when it fails, the whole transaction is its own, and goes. */
  private async runFirst(member: Member): Promise<Done[]> {
    const { connection } = this;
    try {
      return [{ member, value: await member.work() }];
    } catch (error) {
      const reason = connection.classify(error);
      connection.abort();
      connection.rolledBack();
      member.reject(reason);
      return [];
    }
  }

  /** Runs one member inside its savepoint; returns the members that now wait for the COMMIT. */
  private async runMember(member: Member, done: Done[]): Promise<Done[]> {
    const { connection } = this;
    try {
      connection.savepoint();
      const value = await member.work();
      connection.release();
      done.push({ member, value });
      return done;
    } catch (error) {
      const reason = connection.classify(error);
      if (connection.inTransaction()) {
        try {
          connection.rollbackToSavepoint();
          connection.release();
        } catch {
          // The savepoint could not be rolled back: the whole transaction goes, below.
          connection.abort();
        }
      }
      connection.rolledBack();
      member.reject(reason);
      if (connection.inTransaction()) return done;
      // SQLite rolled the whole transaction back (an I/O error, a full disk): the earlier members' writes are gone too.
      for (const earlier of done) earlier.member.reject(reason);
      return [];
    }
  }

  private commit(done: Done[]): void {
    const { connection } = this;
    if (!connection.inTransaction()) return;
    try {
      connection.commit();
    } catch (error) {
      const reason = connection.classify(error);
      connection.abort();
      connection.rolledBack();
      for (const { member } of done) member.reject(reason);
      return;
    }
    for (const { member, value } of done) member.resolve(value);
  }
}
