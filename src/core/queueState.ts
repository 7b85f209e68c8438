/** One scope's waiting requests, as a worker's heartbeat reports them. */
export interface QueueScopeState {
  scope: string;
  length: number;
  /** How long the longest-waiting request had waited when the heartbeat was written. */
  oldestWaitMs: number;
}

/** A worker's admission queue at its last heartbeat. */
export interface QueueState {
  length: number;
  oldestWaitMs: number;
  /** The longest queues first, at most `queueScopesKept`: the row stays small whatever the number of scopes. */
  scopes: QueueScopeState[];
}

export const queueScopesKept = 20;

/** The queue state from each scope's waiters: `oldestSince` is when the longest-waiting one came. */
export function queueStateOf(
  waiting: readonly { scope: string; length: number; oldestSince: number }[],
  now: number,
  keep = queueScopesKept,
): QueueState {
  const scopes = waiting
    .filter((entry) => entry.length > 0)
    .map((entry) => ({ scope: entry.scope, length: entry.length, oldestWaitMs: Math.max(0, now - entry.oldestSince) }))
    .sort((a, b) => b.length - a.length || b.oldestWaitMs - a.oldestWaitMs || a.scope.localeCompare(b.scope));
  return {
    length: scopes.reduce((sum, entry) => sum + entry.length, 0),
    oldestWaitMs: scopes.reduce((oldest, entry) => Math.max(oldest, entry.oldestWaitMs), 0),
    scopes: scopes.slice(0, keep),
  };
}

/** Reads a stored queue back; anything unreadable is no queue known, never an error. */
export function parseQueueState(text: string | null): QueueState | null {
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as Partial<QueueState>;
    if (typeof value.length !== 'number' || typeof value.oldestWaitMs !== 'number' || !Array.isArray(value.scopes)) return null;
    return {
      length: value.length,
      oldestWaitMs: value.oldestWaitMs,
      scopes: value.scopes.filter((entry) => typeof entry?.scope === 'string'),
    };
  } catch {
    return null;
  }
}

/**
 * Every running worker's queue, added up: per scope the lengths summed and the longest wait,
 * each grown by the time since that worker's heartbeat (the requests still waiting have waited
 * that much longer; the heartbeat is a few seconds old at most).
 */
export function fleetQueue(workers: readonly { queue: QueueState | null; heartbeatAt: number }[], now: number): QueueState {
  const byScope = new Map<string, QueueScopeState>();
  let length = 0;
  let oldestWaitMs = 0;
  for (const { queue, heartbeatAt } of workers) {
    if (queue === null || queue.length === 0) continue;
    const since = Math.max(0, now - heartbeatAt);
    length += queue.length;
    oldestWaitMs = Math.max(oldestWaitMs, queue.oldestWaitMs + since);
    for (const entry of queue.scopes) {
      const seen = byScope.get(entry.scope);
      const wait = entry.oldestWaitMs + since;
      byScope.set(entry.scope, {
        scope: entry.scope,
        length: (seen?.length ?? 0) + entry.length,
        oldestWaitMs: Math.max(seen?.oldestWaitMs ?? 0, wait),
      });
    }
  }
  const scopes = [...byScope.values()].sort(
    (a, b) => b.length - a.length || b.oldestWaitMs - a.oldestWaitMs || a.scope.localeCompare(b.scope),
  );
  return { length, oldestWaitMs, scopes };
}
