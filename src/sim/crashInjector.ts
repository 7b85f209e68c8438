import type { Clock } from '../kernel/clock.js';

export interface CrashRecord {
  /** When the injector struck, per the clock. */
  at: number;
  /** The worker it killed; null when no worker was running at that moment (it was restarting). */
  pid: number | null;
}

export interface CrashInjector {
  crashes(): readonly CrashRecord[];
  stop(): void;
}

/**
 * Kills the running worker with SIGKILL at each offset of `schedule` (ms after `startedAt`):
 * no chance to settle, flush or say goodbye, as in an out-of-memory kill or a power cut.
 */
export function startCrashInjector(
  schedule: readonly number[],
  startedAt: number,
  currentWorkerPid: () => number | null,
  clock: Clock,
): CrashInjector {
  const records: CrashRecord[] = [];
  const timers = schedule.map((offset) =>
    setTimeout(
      () => {
        const pid = currentWorkerPid();
        records.push({ at: clock(), pid: pid !== null && kill(pid) ? pid : null });
      },
      Math.max(0, startedAt + offset - clock()),
    ),
  );
  return {
    crashes: () => records,
    stop: () => timers.forEach(clearTimeout),
  };
}

function kill(pid: number): boolean {
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    // Already gone: it died on its own a moment ago.
    return false;
  }
}
