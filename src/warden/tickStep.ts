import { inLockOrder } from '../core/limitGroups.js';
import { sampleToRecord } from '../core/calibration.js';
import { considerRaise, type BudgetAdjustment } from '../core/controller.js';
import { oldestHourInDay } from '../core/daily.js';
import { seedRaise } from '../core/seedRaise.js';
import type { StoreTransaction } from '../store/port.js';
import { withStaleCutsHealed } from './cutHealing.js';
import type { TickResult } from './eventTypes.js';
import type { ScopeLedger } from './scopeLedger.js';
import type { TickSelection } from './tickSelection.js';

/** How long after their window ends usage buckets are kept, for status and calibration. */
const bucketGraceMs = 60_000;

/** The local refusals of each scope counted since the last tick, by durable column. */
export type PendingRefusals = Map<string, { cooldown: number; budget: number }>;

/** The tick's transaction: the controller and the window sample of the scopes chosen, the refusal counts, then retention. */
export async function tickInTransaction(
  ledger: ScopeLedger,
  tx: StoreTransaction,
  tickSelection: TickSelection,
  refusals: PendingRefusals,
  startedAt: number,
): Promise<TickResult> {
  const { now } = tx;
  const adjustments: BudgetAdjustment[] = [];
  const changes: TickResult['changes'] = [];
  let windowSampleRecorded = false;
  // What changed since the last tick and a slice of the rest (tickSelection.ts): never every scope at once.
  const scopes = inLockOrder(new Set([...(await tickSelection.choose(tx, () => ledger.activeScopesIn(tx))), ...refusals.keys()]));
  for (const scope of scopes) {
    const ticked = await tickScope(ledger, tx, scope, startedAt);
    adjustments.push(...ticked.adjustments);
    if (ticked.adjustments.length > 0) changes.push({ scope, adjustments: ticked.adjustments });
    windowSampleRecorded ||= ticked.windowSampleRecorded;
    const counts = refusals.get(scope);
    if (counts !== undefined && counts.cooldown + counts.budget > 0)
      await tx.limiter.addRefusalCounts(scope, counts.cooldown, counts.budget, now);
  }
  const pruned = await tx.limiter.pruneBefore(
    now - ledger.policy.retentionMs,
    now - ledger.policy.windowMs - ledger.widthMs - bucketGraceMs,
    oldestHourInDay(now) - bucketGraceMs,
  );
  await tx.reported.pruneSamplesBefore(now - ledger.policy.retentionMs);
  return { adjustments, changes, prunedRequests: pruned.requests, windowSampleRecorded };
}

async function tickScope(
  ledger: ScopeLedger,
  tx: StoreTransaction,
  scope: string,
  startedAt: number,
): Promise<{ adjustments: BudgetAdjustment[]; windowSampleRecorded: boolean }> {
  const { now } = tx;
  const policy = ledger.policyOf(scope);
  const state = await ledger.stateOf(tx, scope);
  const usage = await ledger.windowUsage(tx, scope);
  const healed = await withStaleCutsHealed(tx, scope, { state, adjustments: [] }, policy);
  const considered =
    policy.unsafeSeedRaise === true
      ? seedRaise(healed.state, usage, now, policy)
      : considerRaise(healed.state, usage, now, policy, startedAt);
  const raised = { state: considered.state, adjustments: [...healed.adjustments, ...considered.adjustments] };
  let next = raised.state;
  let windowSampleRecorded = false;
  if (next.lastWindowSampleAt === null || now - next.lastWindowSampleAt >= policy.windowMs) {
    const sample = sampleToRecord(
      {
        at: now,
        kind: 'window',
        tokens: usage.tokens,
        requests: usage.requests,
        windowMs: policy.windowMs,
        retryAfterMs: null,
        limitTokens: next.reportedTokenLimit,
        limitRequests: next.reportedRequestLimit,
      },
      policy,
    );
    if (sample !== null) await tx.limiter.recordSample(scope, sample);
    windowSampleRecorded = sample !== null;
    next = { ...next, lastWindowSampleAt: now };
  }
  await ledger.commit(tx, scope, state, next, raised.adjustments);
  return { adjustments: raised.adjustments, windowSampleRecorded };
}
