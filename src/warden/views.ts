import type { ReportedRemaining } from '../core/reported.js';
import { initialLimiterState, type LimiterState, type WindowUsage } from '../core/types.js';
import { bucketStartFor } from '../core/window.js';
import type { Store } from '../store/port.js';
import type { ScopeLedger } from './scopeLedger.js';

// Read-only views of the durable state for the Warden's callers, each one read of the store.

/** Every active scope with its state and window usage (off the request path: health, metrics, the ticker's log). */
export function scopeStates(store: Store, ledger: ScopeLedger): Promise<{ scope: string; state: LimiterState; usage: WindowUsage; reports: ReportedRemaining[] }[]> {
  return store.read(async (tx) => {
    const states: { scope: string; state: LimiterState; usage: WindowUsage; reports: ReportedRemaining[] }[] = [];
    for (const scope of await ledger.activeScopesIn(tx)) {
      states.push({ scope, state: (await tx.limiter.readState(scope)) ?? initialLimiterState, usage: await ledger.windowUsage(tx, scope), reports: await tx.reported.reports(scope) });
    }
    return states;
  });
}

/**
 * The states of the scopes touched since `since` (a usage bucket or a state change, through
 * indexes) and of `also`, with the store's time of the reading: what the ticker follows, at a
 * cost that does not grow with the number of scopes.
 */
export function touchedStates(store: Store, ledger: ScopeLedger, since: number, also: Iterable<string>): Promise<{ now: number; states: { scope: string; state: LimiterState }[] }> {
  return store.read(async (tx) => {
    const scopes = new Set([...(await tx.limiter.touchedScopes(bucketStartFor(since, ledger.widthMs), since)), ...also]);
    const states: { scope: string; state: LimiterState }[] = [];
    for (const scope of scopes) states.push({ scope, state: (await tx.limiter.readState(scope)) ?? initialLimiterState });
    return { now: tx.now, states };
  });
}

/** Whether the scope has ever been seen. */
export function hasScope(store: Store, scope: string): Promise<boolean> {
  return store.read(async (tx) => (await tx.limiter.readState(scope)) !== null);
}

/** A scope never seen reads as a fresh one. */
export function readState(store: Store, scope: string): Promise<LimiterState> {
  return store.read(async (tx) => (await tx.limiter.readState(scope)) ?? initialLimiterState);
}

/** What a local refusal's headers show: the scope's budgets and, for a budget refusal, the window's usage; one read. */
export function refusalView(store: Store, ledger: ScopeLedger, scope: string, withUsage: boolean): Promise<{ state: LimiterState; usage: WindowUsage | null }> {
  return store.read(async (tx) => ({ state: (await tx.limiter.readState(scope)) ?? initialLimiterState, usage: withUsage ? await ledger.windowUsage(tx, scope) : null }));
}
