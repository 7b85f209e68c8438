import { processStatus, type LivenessInput, type ProcessRole } from './processLiveness.js';

/** A policy document as a process wrote it when it started (store's process_policies). */
export interface RecordedPolicy {
  role: ProcessRole;
  pid: number;
  writtenAt: number;
  policy: Readonly<Record<string, unknown>>;
}

/**
 * - `running`: written by the process of that role that is running now;
 * - `last-recorded`: none of that role runs (or the running one wrote none): the newest one written;
 * - `not-recorded`: nothing was ever written (a database from before policies were recorded, or
 *   no process of that role has started since): the reading command's own settings stand in.
 */
export type PolicySource = 'running' | 'last-recorded' | 'not-recorded';

export interface PolicyOrigin {
  source: PolicySource;
  pid: number | null;
  writtenAt: number | null;
}

export interface RunningPolicy<T> {
  policy: T;
  origin: PolicyOrigin;
}

/**
 * The recorded document over the fallback, field by field: a field the document lacks (written
 * by an older version) keeps the fallback's value, a field it has that is not of the fallback's
 * type (or null) is ignored, and a field only a newer version knows is left out.
 */
export function overlayPolicy<T extends object>(fallback: T, recorded: Readonly<Record<string, unknown>>): T {
  const merged = { ...fallback } as Record<string, unknown>;
  for (const [key, base] of Object.entries(fallback)) {
    const value = recorded[key];
    if (value === undefined) continue;
    if (value === null || base === null || typeof value === typeof base) merged[key] = value;
  }
  return merged as T;
}

/** The policy a reading command must use for a role: the running process's, else the last one recorded, else its own. */
export function runningPolicy<T extends object>(
  role: ProcessRole,
  recorded: readonly RecordedPolicy[],
  liveness: LivenessInput,
  fallback: T,
): RunningPolicy<T> {
  const ofRole = recorded.filter((row) => row.role === role).sort((a, b) => b.writtenAt - a.writtenAt);
  const process = processStatus(role, liveness);
  const mine = process.running ? ofRole.find((row) => row.pid === process.pid) : undefined;
  const chosen = mine ?? ofRole[0];
  if (chosen === undefined) return { policy: fallback, origin: { source: 'not-recorded', pid: null, writtenAt: null } };
  return {
    policy: overlayPolicy(fallback, chosen.policy),
    origin: { source: mine === undefined ? 'last-recorded' : 'running', pid: chosen.pid, writtenAt: chosen.writtenAt },
  };
}
