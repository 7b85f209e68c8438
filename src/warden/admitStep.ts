import { decideAdmission } from '../core/admission.js';
import { reportedCharge } from '../core/chargeRules.js';
import { trafficSince } from '../core/controller.js';
import { dailyRefusal, hourStartFor, oldestHourInDay } from '../core/daily.js';
import { quotaRefusal } from '../core/quota.js';
import type { LimiterPolicy } from '../core/types.js';
import { bucketStartFor, oldestBucketInWindow } from '../core/window.js';
import type { StoreTransaction } from '../store/port.js';
import { keyRefusal } from './limitGroupSteps.js';
import { hasDailyBudget, type ScopeLedger } from './scopeLedger.js';
import type { Admission, AdmitInput } from './types.js';

/** Admit's transaction on the scope `scope` whose policy is `policy`: the request's reservation recorded, or the refusal. */
export async function admitInTransaction(
  ledger: ScopeLedger,
  tx: StoreTransaction,
  input: AdmitInput,
  scope: string,
  policy: LimiterPolicy,
  pid: number,
): Promise<Admission> {
  const { now } = tx;
  const oldest = oldestBucketInWindow(now, policy.windowMs, ledger.widthMs);
  const daily = hasDailyBudget(policy);
  // The load step: the scope's state, its window's totals, its reports (and the key's layer), in one read.
  const loaded = await tx.load.scope(scope, {
    windowFrom: oldest,
    dayFrom: daily ? oldestHourInDay(now) : undefined,
    keyScope: input.keyScope ?? null,
    admitting: true,
  });
  const state = await ledger.ensureState(tx, scope, loaded.main.state);
  const charge = reportedCharge(input.estimate, input.reportedOutput);
  if (loaded.key !== null) {
    const own = keyRefusal(loaded.key, now, input.estimate, policy, charge);
    if (own !== null) return own;
  }
  const { totals } = loaded.main;
  const reports = policy.unsafeIgnoreReportedRemaining === true ? [] : loaded.main.reports;
  let decision = decideAdmission(state, [totals], input.estimate, now, policy, reports, charge);
  // The buckets themselves are read only to time a budget refusal.
  if (decision.kind === 'reject' && decision.reason === 'budget')
    decision = decideAdmission(state, await tx.limiter.bucketsFrom(scope, oldest), input.estimate, now, policy, reports, charge);
  decision = quotaRefusal(state, decision);
  if (decision.kind === 'reject')
    return { kind: 'rejected', reason: decision.reason, retryAfterMs: decision.retryAfterMs, message: decision.message };
  if (loaded.main.day !== null) {
    const refusal = dailyRefusal(loaded.main.day, input.estimate, now, policy);
    if (refusal !== null) return { kind: 'rejected', reason: 'budget', retryAfterMs: refusal.retryAfterMs, message: refusal.message };
  }
  // The apply step: every write below waits for COMMIT (one round trip on PostgreSQL).
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
  if (loaded.key !== null && loaded.key.reports.length > 0)
    await tx.reported.addAdmitted(loaded.key.scope, charge.inputTokens, charge.outputTokens, 1);
  const since = trafficSince(state.firstRequestAt, totals.requests, now);
  let next = since === state.firstRequestAt ? state : { ...state, firstRequestAt: since };
  if (decision.probe) next = { ...next, probeRequestId: requestId, probeStartedAt: now };
  await ledger.commit(tx, scope, state, next, []);
  return { kind: 'admitted', requestId, probe: decision.probe, reservedTokens: decision.reservedTokens };
}
