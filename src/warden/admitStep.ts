import { decideAdmission } from '../core/admission.js';
import { reportedCharge } from '../core/chargeRules.js';
import { trafficSince } from '../core/controller.js';
import { dailyRefusal, hourStartFor, oldestHourInDay } from '../core/daily.js';
import { quotaRefusal } from '../core/quota.js';
import type { LimiterPolicy } from '../core/types.js';
import { bucketStartFor, oldestBucketInWindow } from '../core/window.js';
import type { StoreTransaction } from '../store/port.js';
import { keyAdmitted, keyRefusal } from './limitGroupSteps.js';
import { hasDailyBudget, type ScopeLedger } from './scopeLedger.js';
import type { Admission, AdmitInput } from './types.js';

/** Admit's transaction on the scope `scope` whose policy is `policy`: the request's reservation recorded, or the refusal. */
export async function admitInTransaction(ledger: ScopeLedger, tx: StoreTransaction, input: AdmitInput, scope: string, policy: LimiterPolicy, pid: number): Promise<Admission> {
  const { now } = tx;
  // One scope's rows only: its state row, its window's aggregate, its reports (all by primary key).
  const state = await ledger.stateOf(tx, scope);
  const charge = reportedCharge(input.estimate, input.reportedOutput);
  if (input.keyScope) {
    const own = await keyRefusal(tx, input.keyScope, input.estimate, policy, charge);
    if (own !== null) return own;
  }
  const oldest = oldestBucketInWindow(now, policy.windowMs, ledger.widthMs);
  // Admit or refuse depends on the window's totals alone, so the request path reads one
  // aggregate row; the buckets themselves are read only to time a budget refusal.
  const totals = await tx.limiter.bucketTotalsFrom(scope, oldest);
  const reports = policy.unsafeIgnoreReportedRemaining === true ? [] : await tx.reported.reports(scope);
  let decision = decideAdmission(state, [totals], input.estimate, now, policy, reports, charge);
  if (decision.kind === 'reject' && decision.reason === 'budget') decision = decideAdmission(state, await tx.limiter.bucketsFrom(scope, oldest), input.estimate, now, policy, reports, charge);
  decision = quotaRefusal(state, decision);
  if (decision.kind === 'reject') return { kind: 'rejected', reason: decision.reason, retryAfterMs: decision.retryAfterMs, message: decision.message };
  const daily = hasDailyBudget(policy);
  if (daily) {
    const day = await tx.limiter.dailyTotalsFrom(scope, oldestHourInDay(now));
    const refusal = dailyRefusal(day, input.estimate, now, policy);
    if (refusal !== null) return { kind: 'rejected', reason: 'budget', retryAfterMs: refusal.retryAfterMs, message: refusal.message };
  }
  const bucketStart = bucketStartFor(now, ledger.widthMs);
  const requestId = await tx.limiter.insertAdmitted({
    scope,
    admittedAt: now,
    bucketStart,
    method: input.method,
    path: input.path,
    probe: decision.probe,
    estInputTokens: input.estimate.inputTokens,
    estOutputTokens: input.estimate.outputTokens,
    chargeOutputTokens: charge.outputTokens,
    workerPid: pid,
  });
  await tx.limiter.addToBucket(scope, bucketStart, input.estimate.inputTokens, input.estimate.outputTokens, 1);
  if (daily) await tx.limiter.addToDaily(scope, hourStartFor(now), input.estimate.inputTokens, input.estimate.outputTokens, 1);
  if (reports.length > 0) await tx.reported.addAdmitted(scope, charge.inputTokens, charge.outputTokens, 1);
  if (input.model) await tx.reported.setRequestModel(requestId, input.model);
  if (input.keyScope) await keyAdmitted(tx, input.keyScope, charge);
  const since = trafficSince(state.firstRequestAt, totals.requests, now);
  let next = since === state.firstRequestAt ? state : { ...state, firstRequestAt: since };
  if (decision.probe) next = { ...next, probeRequestId: requestId, probeStartedAt: now };
  await ledger.commit(tx, scope, state, next, []);
  return { kind: 'admitted', requestId, probe: decision.probe, reservedTokens: decision.reservedTokens };
}
