import { announcedWaitMs } from '../core/cooldownLength.js';
import { blame429, type Blame, type BudgetAdjustment } from '../core/controller.js';
import { settledCharge } from '../core/chargeRules.js';
import { quotaAfterSettle } from '../core/quota.js';
import { afterSettle, onUpstream429, spentTokens, type SettlingRequest } from '../core/settlement.js';
import type { LimiterState, TokenEstimate, WindowUsage } from '../core/types.js';
import type { RequestRecord, StoreTransaction } from '../store/port.js';
import type { LoadedRequest } from '../store/snapshot.js';
import { withStaleCutsHealed } from './cutHealing.js';
import type { SettleInput, Upstream429Input, Upstream429Result } from './eventTypes.js';
import { coolsKeyOnly, keyCorrected, stopGroupForQuota } from './limitGroupSteps.js';
import { adoptGroupReports, adoptReported } from './reportAdoption.js';
import type { ScopeLedger } from './scopeLedger.js';

/** Settle's transaction: replaces the reservation by what was really spent; null when the request is no longer in flight. */
export async function settleInTransaction(
  ledger: ScopeLedger,
  tx: StoreTransaction,
  requestId: number,
  input: SettleInput,
  keyScopes: ReadonlyMap<number, string>,
): Promise<{ scope: string; at: number; adjustments: BudgetAdjustment[] } | null> {
  const { now } = tx;
  const success = input.outcome === 'ok' && input.status !== null && input.status >= 200 && input.status < 300;
  // Only a usage really read is a sample: a kept reservation would teach the estimate itself.
  const sampled = success && input.usage !== null && input.usage.outputTokens > 0;
  // The load step: the scope's row locked (as admit locks it), then the request, the reports, the key's layer.
  const loaded = await tx.load.request(requestId, { keyScope: keyScopes.get(requestId) ?? null, model: sampled });
  if (loaded === null || loaded.request.outcome !== 'in-flight') return null;
  const { request } = loaded;
  const spent =
    input.reachedUpstream === true ? (input.usage ?? estimateOf(request)) : spentTokens(input.outcome, estimateOf(request), input.usage);
  const { scope } = request;
  const state = await ledger.ensureState(tx, scope, loaded.main.state);
  await ledger.moveReservation(tx, request, spent, now);
  await tx.limiter.markSettled(requestId, now, input.outcome, input.status, spent.inputTokens, spent.outputTokens);
  // The upstream counts what it answered by its rule; what never reached it gives everything back.
  const answered =
    input.reachedUpstream === true || input.outcome === 'ok' || input.outcome === 'upstream-error' || input.outcome === 'aborted';
  const charged = { inputTokens: request.estInputTokens, outputTokens: request.chargeOutputTokens };
  const counted = settledCharge(answered ? (input.reportedSettle ?? 'refund-to-usage') : 'refund-to-usage', charged, spent);
  // Only reports count what was sent since them: a scope without any has nothing to correct.
  if (loaded.main.reports.length > 0)
    await tx.reported.correctAdmitted(scope, counted.inputTokens - charged.inputTokens, counted.outputTokens - charged.outputTokens);
  await keyCorrected(tx, loaded.key, counted.inputTokens - charged.inputTokens, counted.outputTokens - charged.outputTokens);
  await adoptGroupReports(ledger, tx, loaded, input.reports ?? [], input.reportsReadAt);
  if (sampled && loaded.model !== null) await tx.reported.recordOutputSample(now, loaded.model, input.usage?.outputTokens ?? 0);
  const policy = ledger.policyOf(scope);
  const settled = quotaAfterSettle(afterSettle(state, settling(request), input.outcome, input.status, now, policy));
  const adopted = await withStaleCutsHealed(tx, scope, await adoptReported(ledger, tx, scope, settled, input.reported ?? null), policy);
  await ledger.commit(tx, scope, state, adopted.state, adopted.adjustments);
  return { scope, at: now, adjustments: adopted.adjustments };
}

/** Upstream429's transaction: the request settled as refused upstream and the cooldown it starts; null when the request is no longer in flight. */
export async function upstream429InTransaction(
  ledger: ScopeLedger,
  tx: StoreTransaction,
  requestId: number,
  input: Upstream429Input,
  keyScopes: ReadonlyMap<number, string>,
  random: () => number,
): Promise<Upstream429Result | null> {
  const loaded = await tx.load.request(requestId, { keyScope: keyScopes.get(requestId) ?? null });
  if (loaded === null || loaded.request.outcome !== 'in-flight') return null;
  const { request } = loaded;
  const { scope } = request;
  const state = await ledger.ensureState(tx, scope, loaded.main.state);
  await giveBackRefused(ledger, tx, loaded);
  // What the upstream was asked for, by its own rule: the limit that could not hold it ran out.
  const charged = { inputTokens: request.estInputTokens, outputTokens: request.chargeOutputTokens };
  // A cooldown covers the limit that ran out: the key's own (workspace) limit cools the key only.
  const cooled = loaded.key !== null && coolsKeyOnly(loaded.main.reports, input.reports ?? [], charged) ? loaded.key.scope : scope;
  await adoptGroupReports(ledger, tx, loaded, input.reports ?? [], input.reportsReadAt);
  const usage = await ledger.windowUsage(tx, scope);
  if (input.quota) {
    const event = { requestId: request.id, retryAfterMs: input.retryAfterMs, usage };
    return { ...(await stopGroupForQuota(tx, scope, state, ledger.policyOf(scope).quotaProbeMs, event)), sharedWith: [] };
  }
  const cooledState = cooled === scope ? state : await ledger.ensureState(tx, cooled, loaded.key?.state ?? null);
  return coolAfter429(ledger, tx, { request, cooled, cooledState, usage, charged }, input, random());
}

/** A request the upstream refused counts nothing: its reservation leaves the window and what was sent since each report. */
async function giveBackRefused(ledger: ScopeLedger, tx: StoreTransaction, loaded: LoadedRequest): Promise<void> {
  const { request } = loaded;
  await ledger.moveReservation(tx, request, spentTokens('upstream-429', estimateOf(request), null), tx.now);
  await tx.limiter.markSettled(request.id, tx.now, 'upstream-429', 429, 0, 0);
  if (loaded.main.reports.length > 0)
    await tx.reported.correctAdmitted(request.scope, -request.estInputTokens, -request.chargeOutputTokens);
  await keyCorrected(tx, loaded.key, -request.estInputTokens, -request.chargeOutputTokens);
}

/** The cooldown a rate-limit 429 starts on the scope (or key) whose limit ran out, its event row, and the siblings a shared limit cools. */
async function coolAfter429(
  ledger: ScopeLedger,
  tx: StoreTransaction,
  refused: { request: RequestRecord; cooled: string; cooledState: LimiterState; usage: WindowUsage; charged: TokenEstimate },
  input: Upstream429Input,
  jitter: number,
): Promise<Upstream429Result> {
  const { now } = tx;
  const { request, cooled, cooledState, usage, charged } = refused;
  const { scope } = request;
  const reportedState = input.reported
    ? {
        ...cooledState,
        reportedTokenLimit: input.reported.tokenLimit ?? cooledState.reportedTokenLimit,
        reportedRequestLimit: input.reported.requestLimit ?? cooledState.reportedRequestLimit,
      }
    : cooledState;
  const blame = blame429(input.reports ?? [], charged);
  const announced = announcedWaitMs(input.retryAfterMs, input.reports ?? [], charged, input.reportsReadAt ?? now);
  const decision = onUpstream429(reportedState, settling(request), announced, usage, blame, now, ledger.policyOf(scope), jitter);
  const cooldownUntil = decision.state.cooldownUntil ?? now;
  const { consecutive429s, backoffLevel } = decision.state;
  const { escalated, cooldownMs, adjustments } = decision;
  await tx.limiter.recordRateLimitEvent(cooled, {
    at: now,
    requestId: request.id,
    retryAfterMs: input.retryAfterMs,
    consecutive429s,
    backoffLevel,
    escalated,
    cooldownMs,
    cooldownUntil,
    windowTokens: usage.tokens,
    windowRequests: usage.requests,
  });
  if (decision.sample !== null) await tx.limiter.recordSample(scope, decision.sample);
  await ledger.commit(tx, cooled, cooledState, decision.state, decision.adjustments);
  const sharedWith = cooled === scope && limitIsShared(blame) ? await ledger.coolSiblings(tx, scope, cooldownUntil) : [];
  return { scope, cooled, quota: false, sharedWith, escalated, cooldownMs, cooldownUntil, consecutive429s, adjustments };
}

/**
 * How a 429's headers say the limit hit is shared (wider than the scope): they report both the
 * token and the request limit of the scope, and both still had room for this request, so what
 * ran out is a limit they do not describe (one the key shares across models). A 429 without
 * rate-limit headers, or with one of them exhausted, cools its scope only.
 */
export function limitIsShared(blame: Blame): boolean {
  return blame.tokens === 'room' && blame.requests === 'room';
}

function estimateOf(request: RequestRecord): TokenEstimate {
  return { inputTokens: request.estInputTokens, outputTokens: request.estOutputTokens };
}

function settling(request: RequestRecord): SettlingRequest {
  return { id: request.id, admittedAt: request.admittedAt, probe: request.probe, estimate: estimateOf(request) };
}
