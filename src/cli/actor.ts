import { hostname, userInfo } from 'node:os';

/** Who did it, for audit_log: `user@host (pid N)`. */
export function operatorActor(): string {
  return `${userName()}@${hostname()} (pid ${process.pid})`;
}

function userName(): string {
  try {
    return userInfo().username;
  } catch {
    // A container may run under a uid that has no passwd entry.
    return process.env.USER ?? process.env.LOGNAME ?? `uid ${process.getuid?.() ?? 'unknown'}`;
  }
}
