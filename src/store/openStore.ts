import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../kernel/clock.js';
import type { Store } from './port.js';
import { isPostgresUrl, redactPostgresUrl } from './postgres/url.js';
import { openPostgresStore } from './postgres/openStore.js';
import { openSqliteStore } from './sqlite/openStore.js';
import type { Durability } from './sqlite/open.js';
import { heldFilePathFor } from './held429File.js';

export type { Durability } from './sqlite/open.js';

export interface OpenStoreOptions {
  /** `--db`: a path (SQLite), or a `postgres://` / `postgresql://` URL (PostgreSQL). */
  db: string;
  clock: Clock;
  durability?: Durability;
  busyTimeoutMs?: number;
  /** Operator commands that write: refuse a missing store, never create one. */
  mustExist?: boolean;
  /** Reading commands: never create, migrate or write. */
  readonly?: boolean;
  /** The proxy's store: SQLite checkpoints on a thread of their own, failures told here (PostgreSQL has none). */
  checkpointErrors?: (line: string) => void;
}

/** The composition root of storage: `--db` chooses the backend. */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  if (isPostgresUrl(options.db)) {
    // The server's clock, not options.clock: hosts whose clocks differ must agree on windows and cooldowns.
    return openPostgresStore({ url: options.db, readonly: options.readonly });
  }
  return openSqliteStore({
    path: options.db,
    clock: options.clock,
    durability: options.durability,
    busyTimeoutMs: options.busyTimeoutMs,
    mustExist: options.mustExist,
    readonly: options.readonly,
    checkpointThread: options.checkpointErrors === undefined ? undefined : { onError: options.checkpointErrors },
  });
}

/**
 * The name this host's rows (heartbeats, policies, supervisor history) carry in the store: on a
 * server shared by hosts the host name, as openPostgresStore writes it; a SQLite file is one
 * host's, and its rows name none.
 */
export const thisHostIn = (store: Pick<Store, 'backend'>): string | undefined => (store.backend === 'postgres' ? hostname() : undefined);

/** `--db` as it may be printed or logged: a PostgreSQL URL without its password. */
export const storeLocationOf = (db: string): string => (isPostgresUrl(db) ? redactPostgresUrl(db) : db);

/**
 * Where a proxy keeps the upstream 429s its store could not record (held429File.ts): beside a
 * SQLite file; for a server, in the local state folder `stateDir`, one file per server and
 * database (named by a hash of the URL without its password, so that no secret is in the name),
 * since the server being gone is exactly when they are needed.
 */
export function heldFileFor(db: string, stateDir: string): string {
  if (!isPostgresUrl(db)) return heldFilePathFor(db);
  const digest = createHash('sha256').update(redactPostgresUrl(db)).digest('hex').slice(0, 16);
  return join(stateDir, `postgres-${digest}.held-429s`);
}
