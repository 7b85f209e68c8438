import type { ReportedRemaining } from '../core/reported.js';
import type { LimiterState, UsageBucket } from '../core/types.js';
import type { RequestRecord } from './port.js';

/**
 * An event's load step: what it reads of one scope, in one read, before it decides. Inside
 * `transact` the scope's row (and the key's, when asked) is locked until commit, and everything
 * else is read after the lock was taken, so what is read is what the latest committed event of
 * the scope left.
 */
export interface ScopeRows {
  scope: string;
  /** Null: the scope was never seen (the warden creates it). */
  state: LimiterState | null;
  reports: ReportedRemaining[];
}

/** What an admission reads of its scope. */
export interface ScopeSnapshot extends ScopeRows {
  /** The window's usage from `windowFrom` on, summed. */
  totals: UsageBucket;
  /** The daily usage from `dayFrom` on, summed; null when not asked for. */
  day: UsageBucket | null;
}

export interface ScopeLoad {
  /** The oldest usage bucket in the window. */
  windowFrom: number;
  /** The oldest hourly row of the daily budget; omitted when no daily budget is set. */
  dayFrom?: number;
  /** A key's own scope in its organization's group (limitGroups.ts), read and locked after the group's; null when none. */
  keyScope?: string | null;
  /** The event may admit a request: a backend that can name it in advance does so in the same read (PostgreSQL). */
  admitting?: boolean;
}

export interface RequestLoad {
  /** As ScopeLoad's; the same scope as the request's is no key layer. */
  keyScope?: string | null;
  /** Read the model the request named too (a settle that learns the model's output). */
  model?: boolean;
}

export interface LoadedScope {
  main: ScopeSnapshot;
  /** The key's layer; null when the load named none, or named the scope itself. */
  key: ScopeRows | null;
}

export interface LoadedRequest {
  request: RequestRecord;
  main: ScopeRows;
  key: ScopeRows | null;
  /** The model the request named, when asked for and known. */
  model: string | null;
}

/** The load step of the warden's events: one read each (one round trip on PostgreSQL). */
export interface SnapshotLoader {
  scope(scope: string, load: ScopeLoad): Promise<LoadedScope>;
  /** The request and its scope, whose row is locked before the request is read; null when there is no such request. */
  request(id: number, load: RequestLoad): Promise<LoadedRequest | null>;
}
