import { decideAdmission, type AdmissionDecision } from '../core/admission.js';
import { reportedCharge } from '../core/chargeRules.js';
import { trafficSince } from '../core/controller.js';
import { dailyRefusal, hourStartFor, oldestHourInDay } from '../core/daily.js';
import { quotaRefusal } from '../core/quota.js';
import type { LimiterPolicy, LimiterState } from '../core/types.js';
import { bucketStartFor, oldestBucketInWindow, sumWindow } from '../core/window.js';
import type { StoreTransaction } from '../store/port.js';
import type { LoadedScope } from '../store/snapshot.js';
import { keyRefusal } from './limitGroupSteps.js';
import { hasDailyBudget, type ScopeLedger } from './scopeLedger.js';
import type { Admission, AdmitInput, Refusal, RefusalShown } from './types.js';

/** Admit's transaction on the scope `scope` whose policy is `policy`: load, decide, then the reservation recorded, or the refusal. */
export async function admitInTransaction(
  ledger: ScopeLedger,
  tx: StoreTransaction,
  input: AdmitInput,
  scope: string,
  policy: LimiterPolicy,
  pid: number,
): Promise<Admission> {
  const { now } = tx;
  const windowFrom = oldestBucketInWindow(now, policy.windowMs, ledger.widthMs);
  // The load step: the scope's state, its window's totals, its reports (and the key's layer), in one read.
  const loaded = await tx.load.scope(scope, {
    windowFrom,
    dayFrom: hasDailyBudget(policy) ? oldestHourInDay(now) : undefined,
    keyScope: input.keyScope ?? null,
    admitting: true,
  });
  const known: Loaded = { ...loaded, main: { ...loaded.main, state: await ledger.ensureState(tx, scope, loaded.main.state) } };
  const decided = await decide(tx, known, input, policy, windowFrom);
  if (decided.kind === 'rejected') return decided;
  return apply(ledger, tx, known, input, policy, decided, pid);
}

type Loaded = LoadedScope & { main: { state: LimiterState } };

/** The decision (core's), or the refusal with what its headers show, from the same read. */
async function decide(
  tx: StoreTransaction,
  loaded: Loaded,
  input: AdmitInput,
  policy: LimiterPolicy,
  windowFrom: number,
): Promise<Refusal | Extract<AdmissionDecision, { kind: 'admit' }>> {
  const { now } = tx;
  const { state, totals, day, scope } = loaded.main;
  const charge = reportedCharge(input.estimate, input.reportedOutput);
  const shown = (withUsage: boolean): RefusalShown => ({
    tokenBudget: state.tokenBudget,
    requestBudget: state.requestBudget,
    usage: withUsage ? sumWindow([totals], policy.tokenMetric) : null,
  });
  const own = loaded.key === null ? null : keyRefusal(loaded.key, now, input.estimate, policy, charge);
  if (own !== null) return own;
  const reports = policy.unsafeIgnoreReportedRemaining === true ? [] : loaded.main.reports;
  let decision = decideAdmission(state, [totals], input.estimate, now, policy, reports, charge);
  // The buckets themselves are read only to time a budget refusal.
  if (decision.kind === 'reject' && decision.reason === 'budget')
    decision = decideAdmission(state, await tx.limiter.bucketsFrom(scope, windowFrom), input.estimate, now, policy, reports, charge);
  decision = quotaRefusal(state, decision);
  if (decision.kind === 'reject') {
    const { reason, retryAfterMs, message } = decision;
    return { kind: 'rejected', reason, retryAfterMs, message, shown: shown(reason === 'budget') };
  }
  const daily = day === null ? null : dailyRefusal(day, input.estimate, now, policy);
  if (daily !== null)
    return { kind: 'rejected', reason: 'budget', retryAfterMs: daily.retryAfterMs, message: daily.message, shown: shown(true) };
  return decision;
}

/** The apply step: the reservation's writes, sent without waiting and collected with COMMIT (one round trip on PostgreSQL). */
async function apply(
  ledger: ScopeLedger,
  tx: StoreTransaction,
  loaded: Loaded,
  input: AdmitInput,
  policy: LimiterPolicy,
  decision: Extract<AdmissionDecision, { kind: 'admit' }>,
  pid: number,
): Promise<Admission> {
  const { now } = tx;
  const { scope, state, totals, day, reports } = loaded.main;
  const { estimate } = input;
  const charge = reportedCharge(estimate, input.reportedOutput);
  const bucketStart = bucketStartFor(now, ledger.widthMs);
  const requestId = await tx.limiter.insertAdmitted({
    scope,
    admittedAt: now,
    bucketStart,
    method: input.method,
    path: input.path,
    probe: decision.probe,
    estInputTokens: estimate.inputTokens,
    estOutputTokens: estimate.outputTokens,
    chargeOutputTokens: charge.outputTokens,
    workerPid: pid,
  });
  await tx.limiter.addToBucket(scope, bucketStart, estimate.inputTokens, estimate.outputTokens, 1);
  if (day !== null) await tx.limiter.addToDaily(scope, hourStartFor(now), estimate.inputTokens, estimate.outputTokens, 1);
  // What was sent since each report: the group's (unless its reports are ignored) and the key's own.
  const counted = policy.unsafeIgnoreReportedRemaining === true ? [] : reports;
  if (counted.length > 0) await tx.reported.addAdmitted(scope, charge.inputTokens, charge.outputTokens, 1);
  if (input.model) await tx.reported.setRequestModel(requestId, input.model);
  if (loaded.key !== null && loaded.key.reports.length > 0)
    await tx.reported.addAdmitted(loaded.key.scope, charge.inputTokens, charge.outputTokens, 1);
  const since = trafficSince(state.firstRequestAt, totals.requests, now);
  let next = since === state.firstRequestAt ? state : { ...state, firstRequestAt: since };
  if (decision.probe) next = { ...next, probeRequestId: requestId, probeStartedAt: now };
  await ledger.commit(tx, scope, state, next, []);
  return { kind: 'admitted', requestId, probe: decision.probe, reservedTokens: decision.reservedTokens };
}
