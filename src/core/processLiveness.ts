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
}

/**
 * - `running`: a fresh heartbeat and the pid is alive;
 * - `not-responding`: the pid is alive but its heartbeat is stale (hung, or the pid was reused);
 * - `gone`: it left its row behind and its pid is dead (it did not stop cleanly);
 * - `stopped`: no row (never started, or stopped cleanly).
 */
export type ProcessState = 'running' | 'not-responding' | 'gone' | 'stopped';

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

export interface LivenessInput {
  rows: readonly HeartbeatRow[];
  now: number;
  /** Per role, a heartbeat older than this no longer counts (a few of that role's heartbeat periods). */
  staleAfterMs: Readonly<Record<ProcessRole, number>>;
  /** Pids that exist on this host right now. */
  livePids: ReadonlySet<number>;
}

function stateOf(row: HeartbeatRow, input: LivenessInput): ProcessState {
  const fresh = input.now - row.heartbeatAt <= input.staleAfterMs[row.role];
  const alive = input.livePids.has(row.pid);
  if (fresh && alive) return 'running';
  return alive ? 'not-responding' : 'gone';
}

/** Whether a role is running: a heartbeat, not only a pid. A running row wins over stale ones. */
export function processStatus(role: ProcessRole, input: LivenessInput): ProcessStatus {
  const rows = input.rows.filter((row) => row.role === role).sort((a, b) => b.heartbeatAt - a.heartbeatAt);
  const chosen = rows.find((row) => stateOf(row, input) === 'running') ?? rows[0];
  if (chosen === undefined) {
    return { running: false, state: 'stopped', pid: null, startedAt: null, heartbeatAt: null, heartbeatAgeMs: null, listen: null, upstream: null };
  }
  const state = stateOf(chosen, input);
  return {
    running: state === 'running',
    state,
    pid: chosen.pid,
    startedAt: chosen.startedAt,
    heartbeatAt: chosen.heartbeatAt,
    heartbeatAgeMs: Math.max(0, input.now - chosen.heartbeatAt),
    listen: chosen.listen,
    upstream: chosen.upstream,
  };
}
