import { decideAdmission } from '../core/admission.js';
import { cooldownCovers, groupScopeOf, ownerOf, sameOrganization, type Organization } from '../core/limitGroups.js';
import { quotaRefusal, stopForQuota } from '../core/quota.js';
import { needOn, type Report, type ReportedRemaining } from '../core/reported.js';
import { initialLimiterState, type LimiterPolicy, type LimiterState, type TokenEstimate, type WindowUsage } from '../core/types.js';
import type { StoreTransaction } from '../store/port.js';
import type { ScopeRows } from '../store/snapshot.js';
import type { Admission } from './types.js';

/**
 * The limit groups' steps inside the warden's transactions (core/limitGroups.ts decides; these
 * read and write): a key joining its organization's group, the key's own layer at admission,
 * and which reports and cooldowns go to the key and which to its group.
 */

/** The scopes a key's joining moved: each of its model groups' scope into its organization's. */
export interface Joined {
  from: string;
  to: string;
}

/**
 * A key's organization is learned: kept by fingerprint, and each of the key's scopes joins the
 * organization's group of the same model group. Its window and daily usage are added to the
 * group's and leave the key's scope; its in-flight requests settle in the group; what they
 * reserve counts in the group's "sent since its last report" (or the key's reports become the
 * group's first ones, which already count them). Nothing is lost, nothing counted twice. The key's
 * own state (a cooldown on its own limit included) and reports stay in the key's scope.
 */
export async function joinGroup(
  tx: StoreTransaction,
  key: { fingerprint: string; keyHint: string | null },
  organization: Organization,
  ensureState: (scope: string) => Promise<unknown>,
): Promise<Joined[] | null> {
  const { fingerprint } = key;
  const known = await tx.groups.organizationOf(fingerprint);
  if (known !== null && sameOrganization(known, organization)) return null;
  await tx.groups.learn({ ...organization, fingerprint, keyHint: key.keyHint, learnedAt: tx.now });
  const owner = ownerOf(organization);
  const joined: Joined[] = [];
  for (const keyScope of await tx.limiter.scopesOfKey(fingerprint)) {
    const group = groupScopeOf(owner, keyScope);
    // The group's row, then the key's (the order every event takes them in): an event of a
    // request in the key's scope waits for the join, and then finds the request in the group.
    await ensureState(group);
    await tx.limiter.readState(keyScope);
    const inFlight = await tx.reported.inFlightSince(keyScope, Number.NEGATIVE_INFINITY);
    const groupReports = await tx.reported.reports(group);
    if (groupReports.length === 0) {
      for (const report of await tx.reported.reports(keyScope)) await tx.reported.writeReport(group, report);
    } else if (inFlight.requests > 0) {
      await tx.reported.addAdmitted(group, inFlight.inputTokens, inFlight.outputTokens, inFlight.requests);
    }
    await tx.groups.moveUsage(keyScope, group);
    joined.push({ from: keyScope, to: group });
  }
  return joined;
}

/**
 * The key's own layer, for a key in an organization's group: a cooldown on the key's own limit
 * refuses it, and so does its own latest report (a workspace's lower limit) less what the key
 * was admitted since. Null when the key may go; the group's own decision follows.
 */
export function keyRefusal(
  key: ScopeRows,
  now: number,
  estimate: TokenEstimate,
  policy: LimiterPolicy,
  reportedCharge: TokenEstimate = estimate,
): Extract<Admission, { kind: 'rejected' }> | null {
  const state = key.state ?? initialLimiterState;
  const reports = policy.unsafeIgnoreReportedRemaining === true ? [] : key.reports;
  const cooling = state.cooldownUntil !== null && state.cooldownUntil > now;
  if (!cooling && reports.length === 0) return null;
  // The key's own layer has no window budget (the group's holds it) and no probe of its own: once its cooldown is over, the group's state decides.
  const keyOnly = {
    ...state,
    tokenBudget: null,
    requestBudget: null,
    probeRequestId: null,
    probeStartedAt: null,
    cooldownUntil: cooling ? state.cooldownUntil : null,
  };
  const decision = quotaRefusal(
    keyOnly,
    decideAdmission(keyOnly, [], estimate, now, { ...policy, tokenBudget: null, requestBudget: null }, reports, reportedCharge),
  );
  if (decision.kind === 'admit') return null;
  return {
    kind: 'rejected',
    reason: decision.reason,
    retryAfterMs: decision.retryAfterMs,
    message: `key's own limit: ${decision.message}`,
  };
}

/**
 * A request of a key in a group settled (or was refused upstream): the key's own reports get the
 * same correction as the group's. The upstream refunds the unused `max_tokens` to every limit
 * that held it; a key whose report kept the whole charge would wait a full refill for tokens the
 * upstream gave back when the stream ended.
 */
export async function keyCorrected(tx: StoreTransaction, key: ScopeRows | null, deltaInput: number, deltaOutput: number): Promise<void> {
  if (key !== null && key.reports.length > 0) await tx.reported.correctAdmitted(key.scope, deltaInput, deltaOutput);
}

/** Whether a 429 ran out of the key's own (workspace) limit, so that its cooldown covers the key only. */
export function coolsKeyOnly(groupReports: readonly ReportedRemaining[], reports: readonly Report[], estimate: TokenEstimate): boolean {
  const exhausted = reports.filter((report) => report.remaining - report.roundingSlack < needOn(report.dimension, estimate));
  return cooldownCovers(exhausted, groupReports) === 'key';
}

/** A quota 429 (core/quota.ts): the group stops until a probe every --quota-probe-interval is served; no ladder, no cut. One rate-limit event row. */
export async function stopGroupForQuota(
  tx: StoreTransaction,
  scope: string,
  state: LimiterState,
  quotaProbeMs: number,
  event: { requestId: number; retryAfterMs: number | null; usage: WindowUsage },
): Promise<{
  scope: string;
  cooled: string;
  quota: true;
  escalated: boolean;
  cooldownMs: number;
  cooldownUntil: number;
  consecutive429s: number;
  adjustments: [];
}> {
  const { now } = tx;
  const stopped = stopForQuota(state, now, quotaProbeMs);
  const cooldownUntil = stopped.cooldownUntil ?? now;
  const escalated = state.quotaSince === null;
  await tx.limiter.recordRateLimitEvent(scope, {
    at: now,
    requestId: event.requestId,
    retryAfterMs: event.retryAfterMs,
    consecutive429s: stopped.consecutive429s,
    backoffLevel: stopped.backoffLevel,
    escalated,
    cooldownMs: cooldownUntil - now,
    cooldownUntil,
    windowTokens: event.usage.tokens,
    windowRequests: event.usage.requests,
  });
  await tx.limiter.writeState(scope, stopped, now);
  return {
    scope,
    cooled: scope,
    quota: true,
    escalated,
    cooldownMs: cooldownUntil - now,
    cooldownUntil,
    consecutive429s: stopped.consecutive429s,
    adjustments: [],
  };
}
