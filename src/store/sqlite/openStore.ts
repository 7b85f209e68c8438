import type { Database, Statement } from 'better-sqlite3';
import type { Clock } from '../../kernel/clock.js';
import type {
  GroupRepository,
  LimiterRepository,
  ProcessRepository,
  ReportedRepository,
  StatusRepository,
  Store,
  StoreTransaction,
  SupervisorRepository,
} from '../port.js';
import { StoreUnavailableError } from '../unavailable.js';
import { checkpointPassive, deferCheckpoints } from './checkpoint.js';
import { startCheckpointer, type Checkpointer } from './checkpointer.js';
import { isStoreCorruption, isStoreWriteFailure } from './errorCodes.js';
import { fileChangeSince, fileIdentityOf, type FileIdentity } from './fileIdentity.js';
import { GroupCommit } from './groupCommit.js';
import { LimiterStore } from './limiterStore.js';
import { openDatabase, type Durability } from './open.js';
import { PolicyStore } from './policyStore.js';
import { ProcessStore } from './processStore.js';
import { ReportedStore } from './reportedStore.js';
import { loaderByParts } from '../loadByParts.js';
import type { SnapshotLoader } from '../snapshot.js';
import { ScopeCache } from './scopeCache.js';
import { GroupStore } from './groupStore.js';
import { StatusView } from './statusView.js';
import { SupervisorStore } from './supervisorStore.js';
import { TransactionQueue } from './transactionQueue.js';

export interface SqliteStoreOptions {
  path: string;
  /** The time of every transaction (`tx.now`), read once at its start. */
  clock: Clock;
  durability?: Durability;
  /** How long a writer waits for another process's lock before the event fails (503). */
  busyTimeoutMs?: number;
  /** Operator commands that write (reset-cooldown, reset-restarts, calibrate --prune-zero): refuse a missing file, never create one. */
  mustExist?: boolean;
  /** Reading commands (status, calibrate): never create, migrate or write. */
  readonly?: boolean;
  /**
   * The proxy's store: checkpoints run on a thread of their own (checkpointer.ts), never on the
   * event loop, and a checkpoint that failed is told here. Without it maintain() checkpoints.
   */
  checkpointThread?: { onError: (line: string) => void };
}

/**
 * The embedded backend: one file, one connection. Opening refuses a missing (where one lived),
 * replaced, corrupt, foreign or newer file with a StoreError and leaves it untouched.
 */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const db = openDatabase(options.path, {
    durability: options.durability ?? 'normal',
    busyTimeoutMs: options.busyTimeoutMs,
    mustExist: options.mustExist ?? false,
    readonly: options.readonly ?? false,
  });
  try {
    const checkpointer =
      options.checkpointThread !== undefined && options.readonly !== true
        ? await startCheckpointer(options.path, { durability: options.durability, onError: options.checkpointThread.onError })
        : null;
    return new SqliteStore(db, options, checkpointer);
  } catch (error) {
    db.close();
    throw error;
  }
}

type Async<T> = { [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<R> : never };

/**
 * The named methods of a synchronous store as the port's asynchronous ones. A plain function
 * returning a settled promise, not an async wrapper: the request path makes a dozen such calls.
 */
function asyncMethods<T extends object, K extends keyof T>(target: T, names: readonly K[]): Async<Pick<T, K>> {
  const methods: Partial<Record<K, unknown>> = {};
  for (const name of names) {
    const method = target[name] as (...args: unknown[]) => unknown;
    methods[name] = (...args: unknown[]): Promise<unknown> => {
      try {
        return Promise.resolve(method.apply(target, args));
      } catch (error) {
        return Promise.reject(error);
      }
    };
  }
  return methods as Async<Pick<T, K>>;
}

/** The repositories' methods a write transaction serves from the scope cache (scopeCache.ts), and those it reads from the file. */
const limiterUncached = [
  'activeScopes',
  'touchedScopes',
  'scopesOfKey',
  'fingerprintSecret',
  'bucketsFrom',
  'dailyTotalsFrom',
  'addToDaily',
  'recordRateLimitEvent',
  'recordSample',
  'recordAdjustment',
  'recordAudit',
  'addRefusalCounts',
  'countZeroTokenSamples',
  'deleteZeroTokenSamples',
  'markHead',
] as const;
const limiterCached = [
  'readState',
  'createState',
  'writeState',
  'bucketTotalsFrom',
  'addToBucket',
  'insertAdmitted',
  'findRequest',
  'markSettled',
  'pruneBefore',
] as const;
const reportedUncached = [
  'inFlightSince',
  'setRequestModel',
  'requestModel',
  'recordOutputSample',
  'outputSamples',
  'pruneSamplesBefore',
] as const;
const reportedCached = ['reports', 'writeReport', 'addAdmitted', 'correctAdmitted'] as const;

class SqliteStore implements Store {
  readonly backend = 'sqlite' as const;
  readonly location: string;
  private readonly clock: Clock;
  private readonly openedFile: FileIdentity;
  private readonly queue = new TransactionQueue();
  private readonly groups: GroupCommit;
  private readonly beginRead: Statement;
  private readonly rollback: Statement;
  /** Inside write transactions: the request path's reads served from memory (scopeCache.ts). */
  private readonly cachedLimiter: LimiterRepository;
  private readonly cachedReported: ReportedRepository;
  private readonly cachedLoad: SnapshotLoader;
  /** Inside reads: everything from the file. */
  private readonly limiter: LimiterRepository;
  private readonly reported: ReportedRepository;
  private readonly load: SnapshotLoader;
  private readonly limitGroups: GroupRepository;
  private readonly supervisor: SupervisorRepository;
  private readonly processes: ProcessRepository;
  private readonly status: StatusRepository;
  /** Set once the file is found deleted, replaced or corrupt: the store then fails closed for good. */
  private lostBecause: string | null = null;

  constructor(
    private readonly db: Database,
    options: SqliteStoreOptions,
    private readonly checkpointer: Checkpointer | null,
  ) {
    this.location = options.path;
    this.clock = options.clock;
    this.openedFile = fileIdentityOf(options.path);
    if (options.readonly !== true) deferCheckpoints(db);
    this.beginRead = db.prepare('BEGIN');
    this.rollback = db.prepare('ROLLBACK');
    const limiter = new LimiterStore(db);
    const reported = new ReportedStore(db);
    const cache = new ScopeCache(limiter, reported);
    this.groups = this.groupCommit(db, cache);
    const view = new StatusView(db);
    const policies = new PolicyStore(db);
    const processes = new ProcessStore(db);
    this.limiter = asyncMethods(limiter, [...limiterUncached, ...limiterCached]);
    this.cachedLimiter = { ...asyncMethods(limiter, limiterUncached), ...asyncMethods(cache, limiterCached) };
    this.reported = asyncMethods(reported, [...reportedUncached, ...reportedCached]);
    this.cachedReported = { ...asyncMethods(reported, reportedUncached), ...asyncMethods(cache, reportedCached) };
    // In process, a read costs no round trip: each event's load step reads part after part.
    this.load = loaderByParts(this.limiter, this.reported);
    this.cachedLoad = loaderByParts(this.cachedLimiter, this.cachedReported);
    this.limitGroups = asyncMethods(new GroupStore(db, () => cache.clear()), ['organizations', 'organizationOf', 'learn', 'moveUsage']);
    this.supervisor = asyncMethods(new SupervisorStore(db), ['record', 'recordAudit', 'lastIdOf', 'restartEvents', 'recent']);
    const processTable = {
      beat: processes.beat.bind(processes),
      forget: processes.forget.bind(processes),
      recordPolicy: policies.record.bind(policies),
      policies: policies.all.bind(policies),
      heartbeats: view.heartbeats.bind(view),
    };
    this.processes = asyncMethods(processTable, ['beat', 'forget', 'recordPolicy', 'policies', 'heartbeats']);
    this.status = asyncMethods(view, ['scopeSummaries', 'hasScope', 'snapshot', 'calibration', 'calibratedScopes', 'history']);
  }

  /** One member of a group commit (groupCommit.ts): it resolves once the group's COMMIT returned. */
  transact<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    return this.groups.run(() => {
      // A lost store records nothing more: what it would record is gone with the file.
      this.refuseIfLost();
      return work({
        now: this.clock(),
        limiter: this.cachedLimiter,
        reported: this.cachedReported,
        load: this.cachedLoad,
        groups: this.limitGroups,
        supervisor: this.supervisor,
        processes: this.processes,
        status: this.status,
      });
    });
  }

  read<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    this.groups.seal();
    return this.queue.run(() => this.inRead(work));
  }

  /** In the queue, so that a checkpoint never runs inside another caller's open transaction. */
  maintain(): Promise<void> {
    this.groups.seal();
    return this.queue.run(async () => {
      this.refuseIfLost();
      const change = fileChangeSince(this.location, this.openedFile);
      if (change !== null)
        this.lostBecause = `${change}; ratewarden fails closed and forwards nothing until it is restarted with the database back in place`;
      this.refuseIfLost();
      if (this.checkpointer === null) this.classified(() => checkpointPassive(this.db));
    });
  }

  /** After every transaction already asked for. */
  close(): Promise<void> {
    this.groups.seal();
    return this.queue.run(async () => {
      await this.checkpointer?.stop();
      if (this.db.open) this.db.close();
    });
  }

  /**
   * The write transactions' steps. The cache is checked once the write lock is held: another
   * connection's COMMIT since this one's last moves `data_version`, and then nothing cached is trusted.
   */
  private groupCommit(db: Database, cache: ScopeCache): GroupCommit {
    const begin = db.prepare('BEGIN IMMEDIATE');
    const commit = db.prepare('COMMIT');
    const rollback = db.prepare('ROLLBACK');
    const savepoint = db.prepare('SAVEPOINT member');
    const release = db.prepare('RELEASE member');
    const rollbackTo = db.prepare('ROLLBACK TO member');
    const dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    let seenVersion: number | null = null;
    return new GroupCommit(this.queue, {
      begin: () => {
        this.refuseIfLost();
        this.classified(() => begin.run());
        const version = this.classified(() => dataVersion.get());
        if (version !== seenVersion) cache.clear();
        seenVersion = version ?? null;
      },
      commit: () => this.classified(() => commit.run()),
      abort: () => {
        if (!db.inTransaction) return;
        try {
          rollback.run();
        } catch {
          // SQLite rolled back already (a failed COMMIT, an I/O error): the work's error is the one to report.
        }
      },
      inTransaction: () => db.inTransaction,
      savepoint: () => this.classified(() => savepoint.run()),
      release: () => this.classified(() => release.run()),
      rollbackToSavepoint: () => this.classified(() => rollbackTo.run()),
      rolledBack: () => cache.clear(),
      classify: (error) => this.classify(error),
    });
  }

  private async inRead<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    this.refuseIfLost();
    const now = this.clock();
    this.classified(() => this.beginRead.run());
    try {
      // Ended by a rollback: a write that slipped into a read never persists.
      const result = await work({
        now,
        limiter: this.limiter,
        reported: this.reported,
        load: this.load,
        groups: this.limitGroups,
        supervisor: this.supervisor,
        processes: this.processes,
        status: this.status,
      });
      this.classified(() => this.rollback.run());
      return result;
    } catch (error) {
      if (this.db.inTransaction) {
        try {
          this.rollback.run();
        } catch {
          // SQLite rolled back already (a failed COMMIT, an I/O error): the work's error is the one to report.
        }
      }
      throw this.classify(error);
    }
  }

  private refuseIfLost(): void {
    if (this.lostBecause !== null) throw new StoreUnavailableError(this.lostBecause, true);
  }

  private classified<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw this.classify(error);
    }
  }

  /** A store that cannot be used becomes a StoreUnavailableError (503); anything else is a bug and stays what it is. */
  private classify(error: unknown): unknown {
    if (error instanceof StoreUnavailableError) return error;
    if (isStoreCorruption(error)) {
      this.lostBecause = `database ${this.location} is corrupt (${(error as Error).message}); ratewarden fails closed: stop it, move the file aside for inspection and restore a backup`;
      return new StoreUnavailableError(this.lostBecause, true);
    }
    if (isStoreWriteFailure(error))
      return new StoreUnavailableError(`the rate-limit store cannot be written (${(error as Error).message})`);
    return error;
  }
}
