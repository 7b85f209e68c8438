import type { QueueState } from './queueState.js';

export type ProcessRole = 'worker' | 'supervisor';

/** One row of `processes`: a process's latest heartbeat. */
export interface HeartbeatRow {
  /** The host that wrote it, on a store shared by hosts (PostgreSQL); a pid means something only there. */
  host?: string;
  role: ProcessRole;
  pid: number;
  startedAt: number;
  heartbeatAt: number;
  listen: string | null;
  upstream: string | null;
  /** A worker's admission queue at this heartbeat; null or absent when it wrote none. */
  queue?: QueueState | null;
}

/**
 * - `running`: a fresh heartbeat and, on this host, the pid is alive;
 * - `not-responding`: the pid is alive but its heartbeat is stale (hung, or the pid was reused);
 * - `gone`: it left its row behind and its pid is dead (it did not stop cleanly);
 * - `silent`: another host's process whose heartbeat is stale (hung, or gone without a clean
 *   stop: its pid cannot be checked from here);
 * - `stopped`: no row (never started, or stopped cleanly).
 */
export type ProcessState = 'running' | 'not-responding' | 'gone' | 'silent' | 'stopped';

export interface ProcessStatus {
  running: boolean;
  state: ProcessState;
  pid: number | null;
  startedAt: number | null;
  heartbeatAt: number | null;
  heartbeatAgeMs: number | null;
  listen: string | null;
  upstream: string | null;
}

/** One process of the fleet, as status lists every host's. */
export interface FleetProcess extends ProcessStatus {
  /** `null` on a store of one host (SQLite), whose rows name none. */
  host: string | null;
  /** Written by this host: its pid was checked here. */
  thisHost: boolean;
  role: ProcessRole;
  pid: number;
}

export interface LivenessInput {
  rows: readonly HeartbeatRow[];
  now: number;
  /** Per role, a heartbeat older than this no longer counts (a few of that role's heartbeat periods). */
  staleAfterMs: Readonly<Record<ProcessRole, number>>;
  /** Pids that exist on this host right now: only this host's rows are judged by them. */
  livePids: ReadonlySet<number>;
  /** The name this host's rows carry on a store shared by hosts; a row without a host is this host's. */
  thisHost?: string;
}

/** Whether this host wrote the row, so that its pid may be checked here. */
export function isThisHosts(row: HeartbeatRow, thisHost: string | undefined): boolean {
  return row.host === undefined || row.host === thisHost;
}

/** The pids a local pid check should look at: this host's rows only. */
export function localPids(rows: readonly HeartbeatRow[], thisHost: string | undefined): number[] {
  return rows.filter((row) => isThisHosts(row, thisHost)).map((row) => row.pid);
}

function stateOf(row: HeartbeatRow, input: LivenessInput): ProcessState {
  const fresh = input.now - row.heartbeatAt <= input.staleAfterMs[row.role];
  // Another host's pid says nothing here: its heartbeat's age alone tells.
  if (!isThisHosts(row, input.thisHost)) return fresh ? 'running' : 'silent';
  const alive = input.livePids.has(row.pid);
  if (fresh && alive) return 'running';
  return alive ? 'not-responding' : 'gone';
}

function statusOf(row: HeartbeatRow, input: LivenessInput): ProcessStatus {
  const state = stateOf(row, input);
  return {
    running: state === 'running',
    state,
    pid: row.pid,
    startedAt: row.startedAt,
    heartbeatAt: row.heartbeatAt,
    heartbeatAgeMs: Math.max(0, input.now - row.heartbeatAt),
    listen: row.listen,
    upstream: row.upstream,
  };
}

/**
 * Whether a role is running on this host: a heartbeat, not only a pid. A running row wins over
 * stale ones. Other hosts' rows are left to `fleetProcesses`.
 */
export function processStatus(role: ProcessRole, input: LivenessInput): ProcessStatus {
  const rows = input.rows
    .filter((row) => row.role === role && isThisHosts(row, input.thisHost))
    .sort((a, b) => b.heartbeatAt - a.heartbeatAt);
  const chosen = rows.find((row) => stateOf(row, input) === 'running') ?? rows[0];
  if (chosen === undefined) {
    return {
      running: false,
      state: 'stopped',
      pid: null,
      startedAt: null,
      heartbeatAt: null,
      heartbeatAgeMs: null,
      listen: null,
      upstream: null,
    };
  }
  return statusOf(chosen, input);
}

/** Every host's processes, by host (this host first), then role and pid. */
export function fleetProcesses(input: LivenessInput): FleetProcess[] {
  const rank = (row: HeartbeatRow): number => (isThisHosts(row, input.thisHost) ? 0 : 1);
  return [...input.rows]
    .sort((a, b) => rank(a) - rank(b) || (a.host ?? '').localeCompare(b.host ?? '') || a.role.localeCompare(b.role) || a.pid - b.pid)
    .map((row) => ({
      ...statusOf(row, input),
      host: row.host ?? null,
      thisHost: isThisHosts(row, input.thisHost),
      role: row.role,
      pid: row.pid,
    }));
}
