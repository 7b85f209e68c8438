import type { BudgetAdjustment } from '../core/controller.js';
import { adoptConfiguredBudgets } from '../core/budgetAdoption.js';
import { coolAlongside, hourStartFor } from '../core/daily.js';
import { defaultScope, keyOfScope, policyForScope, type ScopeBudgetRule } from '../core/scopes.js';
import { initialLimiterState, type LimiterPolicy, type LimiterState, type TokenEstimate, type WindowUsage } from '../core/types.js';
import { bucketStartFor, bucketWidthFor, oldestBucketInWindow, sumWindow } from '../core/window.js';
import type { RequestRecord, StoreTransaction } from '../store/port.js';
import type { Clock } from '../kernel/clock.js';

/** A scope whose state changed this recently counts as active (the tick runs its controller; status lists it). */
export const activeScopeMs = 3_600_000;

/**
 * The steps every event takes on a scope's rows inside its transaction: the scope's policy and
 * state, its window's usage, writing what changed, and moving a request's reservation.
 */
export class ScopeLedger {
  private readonly scopePolicies = new Map<string, LimiterPolicy>();
  readonly widthMs: number;

  constructor(
    readonly policy: LimiterPolicy,
    private readonly scopeBudgets: readonly ScopeBudgetRule[],
    /** This process's time: how old a report is when its transaction commits (stampOf). */
    readonly clock: Clock,
  ) {
    this.widthMs = bucketWidthFor(policy.windowMs);
  }

  /** The policy of one scope: the configured limits of the first scope pattern it matches, over the base policy. */
  policyOf(scope: string): LimiterPolicy {
    let policy = this.scopePolicies.get(scope);
    if (policy === undefined) {
      policy = policyForScope(this.policy, scope, this.scopeBudgets);
      this.scopePolicies.set(scope, policy);
    }
    return policy;
  }

  /**
   * The scope's state, made on first sight inside the caller's transaction. A new scope starts
   * with the cooldown of `default` when one is in force: that is where a database from before
   * scopes keeps the cooldown it had, which held every request then.
   */
  async stateOf(tx: StoreTransaction, scope: string): Promise<LimiterState> {
    return this.ensureState(tx, scope, await tx.limiter.readState(scope));
  }

  /** The state an event's load step read (null: never seen), made as stateOf makes it. */
  async ensureState(tx: StoreTransaction, scope: string, known: LimiterState | null): Promise<LimiterState> {
    if (known !== null) return known;
    const { now } = tx;
    const fallback = scope === defaultScope ? null : await tx.limiter.readState(defaultScope);
    const seed =
      fallback !== null && fallback.cooldownUntil !== null && fallback.cooldownUntil > now
        ? coolAlongside(initialLimiterState, fallback.cooldownUntil, fallback.backoffLevel, now)
        : initialLimiterState;
    const adopted = adoptConfiguredBudgets(seed, this.policyOf(scope));
    await tx.limiter.createState(scope, adopted.state, now);
    for (const adjustment of adopted.adjustments) await tx.limiter.recordAdjustment(scope, now, adjustment);
    return adopted.state;
  }

  async windowUsage(tx: StoreTransaction, scope: string): Promise<WindowUsage> {
    return sumWindow([await tx.limiter.bucketTotalsFrom(scope, this.windowFrom(tx.now))], this.policy.tokenMetric);
  }

  /** The oldest usage bucket in the window at `now`. */
  windowFrom(now: number): number {
    return oldestBucketInWindow(now, this.policy.windowMs, this.widthMs);
  }

  async commit(
    tx: StoreTransaction,
    scope: string,
    before: LimiterState,
    after: LimiterState,
    adjustments: readonly BudgetAdjustment[],
  ): Promise<void> {
    // Core returns a fresh object even when nothing moved (every success "resets" a count that
    // is already zero); writing it anyway would add a page to every settle's commit.
    if (!sameState(before, after)) await tx.limiter.writeState(scope, after, tx.now);
    for (const adjustment of adjustments) await tx.limiter.recordAdjustment(scope, tx.now, adjustment);
  }

  activeScopesIn(tx: StoreTransaction): Promise<string[]> {
    return tx.limiter.activeScopes(this.windowFrom(tx.now), tx.now - activeScopeMs);
  }

  /**
   * Input counts where it was admitted (the upstream counts it when the request arrives); the
   * output reservation leaves the admission bucket and what was generated lands in the current
   * one, so that no window holds a long stream's input a stream-length too long.
   */
  async moveReservation(tx: StoreTransaction, request: RequestRecord, spent: TokenEstimate, now: number): Promise<void> {
    const { scope } = request;
    // The daily window counts at the hour of admission: an hour is far longer than any request.
    if (hasDailyBudget(this.policyOf(scope))) {
      await tx.limiter.addToDaily(
        scope,
        hourStartFor(request.admittedAt),
        spent.inputTokens - request.estInputTokens,
        spent.outputTokens - request.estOutputTokens,
        0,
      );
    }
    const current = bucketStartFor(now, this.widthMs);
    if (current === request.bucketStart) {
      await tx.limiter.addToBucket(
        scope,
        current,
        spent.inputTokens - request.estInputTokens,
        spent.outputTokens - request.estOutputTokens,
        0,
      );
      return;
    }
    await tx.limiter.addToBucket(scope, request.bucketStart, spent.inputTokens - request.estInputTokens, -request.estOutputTokens, 0);
    if (spent.outputTokens !== 0) await tx.limiter.addToBucket(scope, current, 0, spent.outputTokens, 0);
  }

  /**
   * A 429 whose headers say the limit hit is not this scope's own (see limitIsShared) cools every
   * other scope of the same key until the same time; their ladders do not climb.
   */
  async coolSiblings(tx: StoreTransaction, scope: string, until: number): Promise<string[]> {
    const { now } = tx;
    const key = keyOfScope(scope);
    if (key === null) return [];
    const cooled: string[] = [];
    for (const sibling of await tx.limiter.scopesOfKey(key)) {
      if (sibling === scope) continue;
      const state = await this.stateOf(tx, sibling);
      const next = coolAlongside(state, until, state.backoffLevel, now);
      if (next !== state) {
        await tx.limiter.writeState(sibling, next, now);
        cooled.push(sibling);
      }
    }
    return cooled;
  }
}

export function hasDailyBudget(policy: LimiterPolicy): boolean {
  return policy.dailyTokenBudget !== null || policy.dailyRequestBudget !== null;
}

function sameState(a: LimiterState, b: LimiterState): boolean {
  if (a === b) return true;
  for (const key of Object.keys(a) as (keyof LimiterState)[]) if (a[key] !== b[key]) return false;
  return true;
}
