import { PostgresGroupRepository } from './groupRepository.js';
import { BatchedConnection } from './batchedConnection.js';
import { loaderByParts } from '../loadByParts.js';
import { ReservedRequestId } from './reservedRequestId.js';
import { PostgresSnapshotLoader, RequestMovedScope } from './snapshotLoader.js';
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import type { Clock } from '../../kernel/clock.js';
import { StoreError } from '../errors.js';
import { latestSchemaVersion } from '../migrations.js';
import type { Store, StoreTransaction } from '../port.js';
import { StoreUnavailableError } from '../unavailable.js';
import { serverClockOf, serverClockSql } from './clock.js';
import { postgresPoolConfig } from './connection.js';
import { certificateProblem } from './sslModes.js';
import { classifyPostgresError, type PostgresFailure } from './errors.js';
import { PostgresLimiterRepository, ScopeCreatedConcurrently } from './limiterRepository.js';
import { loadPostgresMigrations, migratePostgres, readSchemaVersion } from './migrations.js';
import { PostgresProcessRepository } from './processRepository.js';
import { PostgresReportedRepository } from './reportedRepository.js';
import { PostgresSupervisorRepository } from './supervisorRepository.js';
import { PostgresStatusRepository } from './statusRepository.js';
import type { Queryable } from './statements.js';
import { redactPostgresUrl } from './url.js';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:5432/database`, TLS settings in its query (see connection.ts). */
  url: string;
  /**
   * Tests only: a fake clock for `tx.now`, so that the store contract runs with the same fake
   * time on both backends. Production leaves it out: every host then takes its time from the
   * server, inside the transaction, and hosts whose clocks differ agree on windows and cooldowns.
   */
  clock?: Clock;
  /** The name this host's rows carry (supervisor_events, processes, process_policies); default os.hostname(). */
  host?: string;
  /** Connections this process may hold (default 10). */
  poolSize?: number;
  /** Never migrates nor writes: every session is read-only, and an older or missing schema is refused. */
  readonly?: boolean;
  /** Give up connecting after this long and fail closed (default 5 s). */
  connectTimeoutMs?: number;
}

/** A deadlock or a lost race is run again this many times in all before the event fails closed. */
const maxAttempts = 5;
/**
 * A transaction that waits this long for a scope's row lock gives up (55P03, run again): a host
 * that stalls while holding the lock makes the others fail closed, never hang.
 */
const lockTimeout = '5s';
/**
 * A session that sits idle inside a transaction this long (its process stopped, or hung between
 * statements) is ended by the server, which rolls it back and frees its row locks.
 */
const idleInTransactionTimeoutMs = 30_000;

const bigintOid = 20;

/**
 * The PostgreSQL backend of the storage port: a pool of connections to one server that every
 * host of a fleet reaches. Each transact is BEGIN … COMMIT on one pooled connection at READ
 * COMMITTED; the scope's row lock (readState: SELECT … FOR UPDATE) makes every event of one
 * scope, from any host, run one after another, so several hosts never admit beyond the budget
 * together. Transactions on different scopes run side by side on different connections.
 *
 * `tx.now` is the server's clock read right after BEGIN, in the same round trip, before the
 * work takes any row lock: the port hands the time out before the work names its scope. Two
 * events of one scope therefore commit in the order of their locks but may carry times out of
 * that order by as much as one waited for the other's lock (milliseconds; never more than the
 * 5 s lock timeout). Whatever the hosts' own clocks say, every time comes from one clock.
 *
 * Faults fail closed with StoreUnavailableError (a one-line reason, never the password):
 * - the server unreachable, restarting or ending the session: the pool drops the connection and
 *   the next transact connects again by itself;
 * - a connection lost before COMMIT: the server rolls the transaction back, nothing is half
 *   written, and the event fails (not retried: the caller decides);
 * - a connection lost after COMMIT was sent and before its answer: the event may or may not
 *   have been recorded. It is reported unavailable and never run again here, so nothing is
 *   counted twice (the reservation the proxy then refuses is at worst counted without a forward);
 * - a deadlock (40P01), a serialization failure (40001), a lock wait past lock_timeout (55P03)
 *   or a scope created by another host at the same moment: rolled back and run again, up to
 *   `maxAttempts` in all. `work` must therefore do nothing but through `tx` (it may run twice).
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const location = redactPostgresUrl(options.url);
  const types = new pg.TypeOverrides();
  // BIGINT (times in ms, counts, ids) as numbers: every value ratewarden stores is far below 2^53.
  types.setTypeParser(bigintOid, (value: string) => Number(value));
  const sessionSettings = [`-c idle_in_transaction_session_timeout=${idleInTransactionTimeoutMs}`];
  if (options.readonly) sessionSettings.push('-c default_transaction_read_only=on');
  const pool = new pg.Pool({
    ...postgresPoolConfig(options.url, {
      maxConnections: options.poolSize,
      connectTimeoutMs: options.connectTimeoutMs,
      onIdleConnectionError: () => undefined,
    }),
    types,
    options: sessionSettings.join(' '),
    keepAlive: true,
    // A writing event's statements go out without waiting for each other's answers (batchedConnection.ts).
    pipeline: true,
  });
  // An idle connection that broke (server restart, network) is already out of the pool; the next
  // transaction connects anew and reports a server still away itself. Without a listener Node throws.
  pool.on('error', () => undefined);
  try {
    if (options.readonly) await checkSchema(pool, location);
    else await migratePostgres(pool, loadPostgresMigrations(), location);
  } catch (error) {
    await pool.end().catch(() => undefined);
    if (error instanceof StoreError) throw error;
    const certificate = certificateProblem(error, location);
    if (certificate !== null) throw new StoreError('unreadable', certificate);
    throw unavailable(location, classifyPostgresError(error), error);
  }
  return new PostgresStore(pool, location, options.host ?? hostname(), options.clock, options.readonly ?? false);
}

/** A read-only open never migrates: the schema must be there already, and the one this code knows. */
async function checkSchema(pool: pg.Pool, location: string): Promise<void> {
  const latest = latestSchemaVersion(loadPostgresMigrations());
  const version = await readSchemaVersion(pool);
  if (version === undefined) {
    throw new StoreError(
      'missing',
      `database ${location} holds no ratewarden schema; start a proxy with --db ${location} once to create it`,
    );
  }
  if (version > latest) {
    throw new StoreError(
      'too-new',
      `database ${location} has schema version ${version}, newer than this ratewarden understands (${latest}); upgrade ratewarden, or point --db at another database`,
    );
  }
  if (version < latest) {
    throw new StoreError(
      'too-old',
      `database ${location} has schema version ${version}, older than this ratewarden's (${latest}); start a proxy with --db ${location} once to upgrade it`,
    );
  }
}

type Mode = 'write' | 'read';

class PostgresStore implements Store {
  readonly backend = 'postgres' as const;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    readonly location: string,
    private readonly host: string,
    private readonly clock: Clock | undefined,
    private readonly readonly: boolean,
  ) {}

  transact<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    return this.run('write', work);
  }

  /** REPEATABLE READ, READ ONLY: one snapshot for every part, no lock taken, nothing written. */
  read<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    return this.run('read', work);
  }

  async maintain(): Promise<void> {
    try {
      await this.pool.query('SELECT 1');
    } catch (error) {
      const failure = classifyPostgresError(error);
      if (failure.kind === 'other') throw error;
      throw unavailable(this.location, failure, error);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async run<T>(mode: Mode, work: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      const outcome = await this.attempt(mode, work);
      if (outcome.done) return outcome.result;
      if (attempt >= maxAttempts) {
        throw new StoreUnavailableError(
          `database ${this.location} is unavailable: ${outcome.failure.reason}, ${maxAttempts} times in a row`,
        );
      }
      // Jittered, so that two hosts that deadlocked do not meet again in step.
      await delay(Math.random() * 5 * attempt);
    }
  }

  private async attempt<T>(
    mode: Mode,
    work: (tx: StoreTransaction) => Promise<T>,
  ): Promise<{ done: true; result: T } | { done: false; failure: PostgresFailure }> {
    const client = await this.connect();
    // Set when the server ends the session while no query of it runs (see ignoreCheckedOutError).
    let connectionLost = false;
    const onConnectionError = (): void => {
      connectionLost = true;
    };
    client.on('error', onConnectionError);
    let phase: 'begin' | 'work' | 'commit' = 'begin';
    let lostBeforeCommit = false;
    try {
      const now = await this.begin(client, mode);
      phase = 'work';
      // A writing event's writes wait and go with its next read or with COMMIT (batchedConnection.ts).
      const connection = mode === 'write' ? new BatchedConnection(client) : null;
      const result = await work(this.transactionOn(connection ?? client, now, connection));
      phase = 'commit';
      lostBeforeCommit = connectionLost;
      await (connection === null ? client.query('COMMIT') : connection.commit());
      client.off('error', onConnectionError);
      release(client);
      return { done: true, result };
    } catch (error) {
      client.off('error', onConnectionError);
      const failure = this.failureOf(error, mode);
      if (failure.kind === 'unavailable') {
        // The connection is gone or useless: destroyed, never handed back to the pool.
        release(client, true);
        // A pooled connection the server dropped while it sat idle (a restart) fails at BEGIN,
        // before anything was sent: safe to run again on a fresh connection, which connect()
        // reports unavailable itself when the server is still away.
        if (phase === 'begin') return { done: false, failure };
        // COMMIT went out on a connection that was still up, and no answer came back. (A server's
        // error answer, to COMMIT or to a write sent with it, means the transaction rolled back.)
        if (phase === 'commit' && !lostBeforeCommit && !(error instanceof pg.DatabaseError)) {
          throw new StoreUnavailableError(
            `database ${this.location} is unavailable: ${failure.reason} while committing; the event may or may not be recorded, and is not run again`,
          );
        }
        throw unavailable(this.location, failure, error);
      }
      const rolledBack = await client.query('ROLLBACK').then(
        () => true,
        () => false,
      );
      release(client, !rolledBack);
      if (failure.kind === 'retry') return { done: false, failure };
      // A bug, a bad configuration, or the work's own error: as it came.
      throw error;
    }
  }

  private failureOf(error: unknown, mode: Mode): PostgresFailure {
    if (error instanceof ScopeCreatedConcurrently) return { kind: 'retry', reason: 'scope created by another transaction' };
    if (error instanceof RequestMovedScope) return { kind: 'retry', reason: 'request moved to its group by another transaction' };
    // A write inside read(), or through a read-only store, is a bug of the caller, not a
    // server fallen back to a standby.
    const readOnlyViolation = (error as { code?: unknown } | null)?.code === '25006' && (mode === 'read' || this.readonly);
    return readOnlyViolation ? { kind: 'other', reason: 'a write in a read-only transaction' } : classifyPostgresError(error);
  }

  private async connect(): Promise<pg.PoolClient> {
    if (this.closed) throw new StoreUnavailableError(`database ${this.location} is closed`);
    try {
      const client = await this.pool.connect();
      client.on('error', ignoreCheckedOutError);
      return client;
    } catch (error) {
      const failure = classifyPostgresError(error);
      if (failure.kind === 'other') throw error;
      throw unavailable(this.location, failure, error);
    }
  }

  /** BEGIN, the lock timeout and the server's clock in one round trip; the time is read after BEGIN. */
  private async begin(client: pg.PoolClient, mode: Mode): Promise<number> {
    const begin = mode === 'write' ? 'BEGIN ISOLATION LEVEL READ COMMITTED' : 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';
    if (this.clock !== undefined) {
      await client.query(`${begin}; SET LOCAL lock_timeout = '${lockTimeout}'`);
      return this.clock();
    }
    const results = (await client.query(
      `${begin}; SET LOCAL lock_timeout = '${lockTimeout}'; ${serverClockSql}`,
    )) as unknown as pg.QueryResult[];
    return serverClockOf(results[results.length - 1]?.rows[0]);
  }

  /** `batched`: a writing transaction's connection (its reads lock the scope's row). */
  private transactionOn(client: Queryable, now: number, batched: BatchedConnection | null): StoreTransaction {
    const requestIds = new ReservedRequestId();
    const limiter = new PostgresLimiterRepository(client, batched !== null, requestIds);
    const reported = new PostgresReportedRepository(client);
    return {
      now,
      limiter,
      reported,
      load: batched === null ? loaderByParts(limiter, reported) : new PostgresSnapshotLoader(batched, limiter, reported, requestIds),
      groups: new PostgresGroupRepository(client),
      supervisor: new PostgresSupervisorRepository(client, this.host),
      processes: new PostgresProcessRepository(client, this.host),
      status: new PostgresStatusRepository(client),
    };
  }
}

/**
 * The server ended a session this process has checked out (a restart, pg_terminate_backend)
 * while no query of it was running. The pool listens only to idle connections; without a
 * listener here Node would throw. The transaction's next query fails, and that failure is the
 * one reported.
 */
const ignoreCheckedOutError = (): void => undefined;

/** Hands the connection back to the pool, or destroys it when it may be broken or mid-transaction. */
function release(client: pg.PoolClient, destroy = false): void {
  client.off('error', ignoreCheckedOutError);
  client.release(destroy ? true : undefined);
}

function unavailable(location: string, failure: PostgresFailure, error: unknown): Error {
  if (failure.kind === 'other') return error instanceof Error ? error : new Error(String(error));
  return new StoreUnavailableError(`database ${location} is unavailable: ${failure.reason}`);
}
