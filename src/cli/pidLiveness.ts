/** The pids among these that exist on this host (signal 0 tests without sending anything). */
export function livePidsAmong(pids: readonly number[]): Set<number> {
  const alive = new Set<number>();
  for (const pid of pids) {
    try {
      process.kill(pid, 0);
      alive.add(pid);
    } catch (error) {
      // EPERM: it exists but belongs to another user.
      if ((error as NodeJS.ErrnoException).code === 'EPERM') alive.add(pid);
    }
  }
  return alive;
}
