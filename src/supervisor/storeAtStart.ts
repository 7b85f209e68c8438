import { setTimeout as sleep } from 'node:timers/promises';
import { formatDuration } from '../kernel/durations.js';
import { restartDelayMs, type RestartPolicy } from '../core/restartPolicy.js';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import { StoreUnavailableError } from '../store/unavailable.js';
import type { FrontDoor } from './frontDoor.js';

/** The shortest wait between two tries, whatever restart-sec says. */
const minRetryMs = 100;

/**
 * The supervisor's store at start. A server a fleet shares may be away when a host boots (or
 * restarts with it), or read-only for a while (a failover): the supervisor waits for it on its
 * own restart ladder, the door answering 503 `restarting` with the time of the next try, instead
 * of exiting into a service manager's blind loop. `open` must both open the store and write the
 * supervisor's start to it. A store that is lost (a corrupt or replaced file) or refused (a newer
 * schema, bad input) stays final. Resolves null when a stop signal ends the wait.
 */
export async function openStoreWhenReachable<T>(
  open: () => Promise<T>,
  context: { policy: RestartPolicy; door: FrontDoor; log: Logger; stop: AbortSignal; clock: Clock },
): Promise<T | null> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await open();
    } catch (error) {
      if (!(error instanceof StoreUnavailableError) || error.lost) throw error;
      // The ladder of a crash loop (restart-sec, doubling), from its first step; never a busy loop.
      const delay = Math.max(minRetryMs, restartDelayMs(attempt + 1, context.policy));
      context.door.restarting(context.clock() + delay);
      context.log.warn(
        'store-unavailable',
        `supervisor: ${error.message}; no worker starts without it, trying again in ${formatDuration(delay)}`,
        { attempt, delayMs: delay },
      );
      try {
        await sleep(delay, undefined, { signal: context.stop });
      } catch {
        return null;
      }
    }
  }
}
