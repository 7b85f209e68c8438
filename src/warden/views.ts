import { refuseWhileCooling } from '../core/admission.js';
import { quotaRefusal } from '../core/quota.js';
import type { ReportedRemaining } from '../core/reported.js';
import { defaultScope } from '../core/scopes.js';
import { initialLimiterState, type LimiterState, type WindowUsage } from '../core/types.js';
import { bucketStartFor } from '../core/window.js';
import type { Store } from '../store/port.js';
import type { ScopeLedger } from './scopeLedger.js';
import type { Refusal, RefusalShown } from './types.js';

/**
 * The warden's reads of the durable state, each one read of the store and none an event: what
 * health, metrics, the ticker, a local refusal's headers and the operator commands look at. The
 * operator's prune of zero-token samples lives here too: it touches no limiter state.
 */
export class WardenViews {
  constructor(
    private readonly store: Store,
    private readonly ledger: ScopeLedger,
  ) {}

  /** Every active scope with its state and window usage (off the request path: health, metrics, the ticker's log). */
  scopeStates(): Promise<{ scope: string; state: LimiterState; usage: WindowUsage; reports: ReportedRemaining[] }[]> {
    return this.store.read(async (tx) => {
      const states: { scope: string; state: LimiterState; usage: WindowUsage; reports: ReportedRemaining[] }[] = [];
      for (const scope of await this.ledger.activeScopesIn(tx)) {
        states.push({
          scope,
          state: (await tx.limiter.readState(scope)) ?? initialLimiterState,
          usage: await this.ledger.windowUsage(tx, scope),
          reports: await tx.reported.reports(scope),
        });
      }
      return states;
    });
  }

  /**
   * The states of the scopes touched since `since` (a usage bucket or a state change, through
   * indexes) and of `also`, with the store's time of the reading: what the ticker follows, at a
   * cost that does not grow with the number of scopes.
   */
  touchedStates(since: number, also: Iterable<string>): Promise<{ now: number; states: { scope: string; state: LimiterState }[] }> {
    return this.store.read(async (tx) => {
      const scopes = new Set([...(await tx.limiter.touchedScopes(bucketStartFor(since, this.ledger.widthMs), since)), ...also]);
      const states: { scope: string; state: LimiterState }[] = [];
      for (const scope of scopes) states.push({ scope, state: (await tx.limiter.readState(scope)) ?? initialLimiterState });
      return { now: tx.now, states };
    });
  }

  /** Whether the scope has ever been seen. */
  hasScope(scope: string): Promise<boolean> {
    return this.store.read(async (tx) => (await tx.limiter.readState(scope)) !== null);
  }

  /** The scopes with usage in the window, anything of a cooldown in force, or a change within the last hour. */
  activeScopes(): Promise<string[]> {
    return this.store.read((tx) => this.ledger.activeScopesIn(tx));
  }

  /** A scope never seen reads as a fresh one. */
  readState(scope: string = defaultScope): Promise<LimiterState> {
    return this.store.read(async (tx) => (await tx.limiter.readState(scope)) ?? initialLimiterState);
  }

  currentUsage(scope: string = defaultScope): Promise<WindowUsage> {
    return this.store.read((tx) => this.ledger.windowUsage(tx, scope));
  }

  /** What a local refusal's headers show, for a refusal whose deciding read did not carry it (`shown`); one read. */
  async refusalView(scope: string, withUsage: boolean): Promise<RefusalShown> {
    const read = await this.store.read(async (tx) => ({
      state: (await tx.limiter.readState(scope)) ?? initialLimiterState,
      usage: withUsage ? await this.ledger.windowUsage(tx, scope) : null,
    }));
    return { tokenBudget: read.state.tokenBudget, requestBudget: read.state.requestBudget, usage: read.usage };
  }

  /**
   * The refusal a cooldown or a quota stop of the scope imposes now, if any; not counted (the
   * caller counts the refusals it answers). Waiting out the probe's answer is the queue's to do.
   */
  async cooldownRefusal(scope: string = defaultScope): Promise<Refusal | null> {
    const read = await this.store.read(async (tx) => ({ state: await tx.limiter.readState(scope), now: tx.now }));
    if (read.state === null) return null;
    const cooling = refuseWhileCooling(read.state, read.now, this.ledger.policyOf(scope));
    const refusal = cooling === null ? null : quotaRefusal(read.state, cooling);
    if (refusal === null || refusal.kind !== 'reject' || refusal.reason === 'probe' || refusal.reason === 'budget') return null;
    // The headers' budgets come from this same read: answering it reads nothing more.
    const shown = { tokenBudget: read.state.tokenBudget, requestBudget: read.state.requestBudget, usage: null };
    return { kind: 'rejected', reason: refusal.reason, retryAfterMs: refusal.retryAfterMs, message: refusal.message, shown };
  }

  /** The key that keys this database's API-key fingerprints (never leaves the process but to hash). */
  fingerprintSecret(): Promise<string> {
    return this.store.transact((tx) => tx.limiter.fingerprintSecret());
  }

  /** Removes calibration samples with zero tokens (which ratewarden itself never records); one audit row. */
  pruneZeroSamples(actor: string, options: { dryRun: boolean }): Promise<number> {
    return this.store.transact(async (tx) => {
      if (options.dryRun) return tx.limiter.countZeroTokenSamples();
      const removed = await tx.limiter.deleteZeroTokenSamples();
      await tx.limiter.recordAudit(tx.now, 'prune-zero-samples', actor, null, { removed });
      return removed;
    });
  }
}
