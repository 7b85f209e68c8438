import { setTimeout as sleep } from 'node:timers/promises';
import type { Warden } from '../warden/warden.js';
import type { Admission, AdmitInput, Clock } from '../warden/types.js';

/** Budget waits poll no faster than this, whatever the window's bucket width. */
const minimumPollMs = 10;

/**
 * Admits a request, or lets one refused only for its budget wait up to `maxWaitMs` for room.
 * A cooldown is never waited out: those requests are answered at once. Returns null when the
 * client went away while waiting.
 */
export async function admitWithin(warden: Warden, input: AdmitInput, maxWaitMs: number, clock: Clock, clientGone: AbortSignal): Promise<Admission | null> {
  const deadline = clock() + maxWaitMs;
  let admission = warden.admit(input);
  while (admission.kind === 'rejected' && admission.reason === 'budget') {
    const left = deadline - clock();
    if (left <= 0) break;
    const waited = await sleep(Math.min(Math.max(admission.retryAfterMs, minimumPollMs), left), true, { signal: clientGone }).catch(() => false);
    if (!waited) return null;
    admission = warden.admit(input);
  }
  return admission;
}
