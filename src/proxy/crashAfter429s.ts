import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';

/** The exit code of a worker that `--unsafe-crash-after-rate-limits` brought down. */
export const crashAfter429sExitCode = 70;

/** The events the recorder logs once an upstream 429 is recorded (see recorder.ts). */
const upstream429Events = new Set(['cooldown-start', 'upstream-429']);

/**
 * Fault injection for the incident replay (`--unsafe-crash-after-rate-limits K`): the worker dies when
 * it has seen K upstream 429s within one window, as the seed's worker did (20 restarts a minute
 * in the incident). It watches the log events the recorder writes after the 429's transaction
 * has committed, so the crash comes after the 429 is durable, never in the middle of recording
 * it; every request in flight is cut off, as in any crash.
 */
export function crashingAfter429s(
  log: Logger,
  limit: number,
  windowMs: number,
  clock: Clock,
  exit: (code: number) => never = process.exit,
): Logger {
  if (limit <= 0) return log;
  const seen: number[] = [];
  return {
    ...log,
    warn(event, message, fields) {
      log.warn(event, message, fields);
      if (!upstream429Events.has(event)) return;
      const now = clock();
      seen.push(now);
      while (seen.length > 0 && (seen[0] ?? now) <= now - windowMs) seen.shift();
      if (seen.length < limit) return;
      log.error(
        'crash-after-429s',
        `fault injection: ${seen.length} upstream 429s within one window (--unsafe-crash-after-rate-limits ${limit}); the worker exits now`,
        { exitCode: crashAfter429sExitCode },
      );
      exit(crashAfter429sExitCode);
    },
  };
}
