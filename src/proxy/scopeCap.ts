import type { IncomingHttpHeaders } from 'node:http';
import type { Clock } from '../kernel/clock.js';
import type { ProviderName } from './providers/types.js';
import type { RequestScope } from './scopeOf.js';

/** New scopes one proxy process takes on per minute (in a burst of as many), before the overflow scope. */
export const maxNewScopesPerMinute = 600;

/** Scopes one proxy process keeps apart in all; any further one shares the overflow scope. */
export const maxScopesPerProcess = 10_000;

/** Where requests of scopes past the caps are counted, together. */
export const overflowScope = 'overflow';

type ChooseScope = (headers: IncomingHttpHeaders, model: string | null, provider?: ProviderName) => RequestScope;

/** A request past the caps: counted in the overflow scope, with no key layer and nothing learned for its key. */
const overflowed: RequestScope = { scope: overflowScope, keyScope: null, fingerprint: null, learnsOrganization: false, keyHint: null };

/**
 * What one client can create (issue 26 item 4): every new key (or key × model family) makes a
 * scope, with its own rows, its own budget and its own work for the tick, status and /metrics; a
 * client cycling random keys would make 100,000 of them. So a process takes on at most
 * `maxNewScopesPerMinute` scopes it has not seen (a token bucket, as large as a minute's worth)
 * and at most `maxScopesPerProcess` in all; past either, the request is counted in one shared
 * scope, `overflow`, with the configured budget: it is still served and still limited, never
 * forwarded unaccounted, and a flood of keys shares one budget instead of each getting a fresh
 * one. Scopes already known keep theirs. `onOverflow` is told (at most once a minute) so that it
 * can be logged.
 */
export function cappedScopes(choose: ChooseScope, clock: Clock, onOverflow: (scope: string) => void): ChooseScope {
  const known = new Set<string>();
  let allowance = maxNewScopesPerMinute;
  let filledAt = clock();
  let toldAt = Number.NEGATIVE_INFINITY;
  return (headers, model, provider) => {
    const chosen = choose(headers, model, provider);
    const { scope } = chosen;
    if (known.has(scope)) return chosen;
    const now = clock();
    allowance = Math.min(maxNewScopesPerMinute, allowance + ((now - filledAt) * maxNewScopesPerMinute) / 60_000);
    filledAt = now;
    if (allowance >= 1 && known.size < maxScopesPerProcess) {
      allowance -= 1;
      known.add(scope);
      return chosen;
    }
    if (now - toldAt >= 60_000) {
      toldAt = now;
      onOverflow(scope);
    }
    return overflowed;
  };
}
