import { heldFilePathFor } from '../../src/store/held429File.js';
import type { Clock } from '../../src/kernel/clock.js';
import type { RestartPolicy } from '../../src/core/restartPolicy.js';
import { SupervisorLedger } from '../../src/warden/supervisorLedger.js';
import { openDatabase } from '../../src/store/sqlite/open.js';
import { openStore, type Durability } from '../../src/store/openStore.js';
import { Warden, type WardenOptions } from '../../src/warden/warden.js';

export type SqliteWardenOptions = Omit<WardenOptions, 'store' | 'heldFile'> & { durability?: Durability; busyTimeoutMs?: number };

/** A warden on a SQLite file as `ratewarden run` opens it: the store at the path, the held 429s beside it. */
export async function openSqliteWarden(dbPath: string, options: SqliteWardenOptions): Promise<Warden> {
  const store = await openStore({ db: dbPath, clock: options.clock, durability: options.durability, busyTimeoutMs: options.busyTimeoutMs });
  return Warden.open({ ...options, store, heldFile: heldFilePathFor(dbPath) });
}

/** Reads what a warden (or a ledger) recorded, through a read-only connection of its own, opened and closed per query. */
export function sqlOf(owner: { location: string }): {
  all<T = unknown>(sql: string, ...params: unknown[]): T[];
  get<T = unknown>(sql: string, ...params: unknown[]): T | undefined;
  pragma(sql: string): unknown;
} {
  const withDb = <R>(work: (db: ReturnType<typeof openDatabase>) => R): R => {
    const db = openDatabase(owner.location, { readonly: true });
    try {
      return work(db);
    } finally {
      db.close();
    }
  };
  return {
    all: <T>(sql: string, ...params: unknown[]) => withDb((db) => db.prepare(sql).all(...params) as T[]),
    get: <T>(sql: string, ...params: unknown[]) => withDb((db) => db.prepare(sql).get(...params) as T | undefined),
    pragma: (sql: string) => withDb((db) => db.pragma(sql, { simple: true })),
  };
}

/** Writes rows an older ratewarden (or an operator) would have left, through a connection of its own. */
export function writeRows(owner: { location: string }, sql: string, rows: readonly unknown[][]): void {
  const db = openDatabase(owner.location);
  try {
    const statement = db.prepare(sql);
    for (const row of rows) statement.run(...row);
  } finally {
    db.close();
  }
}

/** The supervisor's ledger on a SQLite file, as `ratewarden run` opens it. */
export async function openSqliteLedger(
  dbPath: string,
  options: {
    policy: RestartPolicy;
    clock: Clock;
    pid?: number;
    name?: string;
    mustExist?: boolean;
    durability?: Durability;
    busyTimeoutMs?: number;
  },
): Promise<SupervisorLedger> {
  const store = await openStore({
    db: dbPath,
    clock: options.clock,
    durability: options.durability,
    busyTimeoutMs: options.busyTimeoutMs,
    mustExist: options.mustExist,
  });
  return new SupervisorLedger({ store, policy: options.policy, pid: options.pid, name: options.name, clock: options.clock });
}
