import { sampleToRecord } from '../core/calibration.js';
import { adoptReportedLimits } from '../core/budgetAdoption.js';
import type { BudgetAdjustment } from '../core/controller.js';
import { adoptReport, needOn, type Report, type ReportedRemaining } from '../core/reported.js';
import { reportsForGroup } from '../core/limitGroups.js';
import type { ScopeRows } from '../store/snapshot.js';
import type { LimiterState } from '../core/types.js';
import type { ReportCarrier, StoreTransaction } from '../store/port.js';
import type { ScopeLedger } from './scopeLedger.js';
import type { ReportedLimitsForBudget } from './types.js';

/** The reports of an answer to a key in a group (limitGroupSteps.ts): all the key's own, and the group's those that describe its limit. */
export async function adoptGroupReports(
  ledger: ScopeLedger,
  tx: StoreTransaction,
  loaded: { main: ScopeRows; key: ScopeRows | null },
  reports: readonly Report[],
  readAt: number | undefined,
  carrier?: ReportCarrier,
): Promise<void> {
  const { main, key } = loaded;
  if (key === null) return adoptReports(ledger, tx, main.scope, main.reports, reports, readAt, carrier);
  await adoptReports(ledger, tx, key.scope, key.reports, reports, readAt, carrier);
  await adoptReports(
    ledger,
    tx,
    main.scope,
    main.reports,
    reports.length === 0 ? [] : reportsForGroup(reports, main.reports),
    readAt,
    carrier,
  );
}

/**
 * A newer report replaces the last one; what is in flight now is not in it yet, but for
 * `carrier`, the request whose answer's head carried it (the upstream charged it before
 * answering), and those whose head arrived before the carrier was sent.
 * A report is as old as the head that carried it: read at `readAt` on this host's clock, it is
 * stamped that long before the transaction's time, so that one read earlier but committed later
 * never replaces a newer one.
 */
async function adoptReports(
  ledger: ScopeLedger,
  tx: StoreTransaction,
  scope: string,
  loaded: readonly ReportedRemaining[],
  reports: readonly Report[],
  readAt: number | undefined,
  carrier?: ReportCarrier,
): Promise<void> {
  if (reports.length === 0) return;
  const now = stampOf(ledger, tx, readAt);
  // As the load step read them: only a report's time decides whether a new one replaces it (core's adoptReport).
  const known = new Map(loaded.map((report) => [report.dimension, report]));
  const inFlight = await tx.reported.inFlightSince(scope, now - ledger.policy.windowMs, carrier);
  for (const report of reports) {
    const reserved = report.dimension === 'requests' ? inFlight.requests : needOn(report.dimension, inFlight);
    const adopted = adoptReport(known.get(report.dimension) ?? null, report, now, reserved, readAt ?? now);
    if (adopted !== null) await tx.reported.writeReport(scope, adopted);
  }
}

/** The store's time of something this host saw at `readAt` (its own clock): that long before the transaction's time. */
export function stampOf(ledger: ScopeLedger, tx: StoreTransaction, readAt: number | undefined): number {
  return tx.now - (readAt === undefined ? 0 : Math.max(0, ledger.clock() - readAt));
}

export async function adoptReported(
  ledger: ScopeLedger,
  tx: StoreTransaction,
  scope: string,
  state: LimiterState,
  reported: ReportedLimitsForBudget | null,
): Promise<{ state: LimiterState; adjustments: BudgetAdjustment[] }> {
  const { now } = tx;
  if (reported === null || (reported.tokenLimit === null && reported.requestLimit === null)) return { state, adjustments: [] };
  const changed =
    (reported.tokenLimit !== null && reported.tokenLimit !== state.reportedTokenLimit) ||
    (reported.requestLimit !== null && reported.requestLimit !== state.reportedRequestLimit);
  if (!changed) return { state, adjustments: [] };
  const policy = ledger.policyOf(scope);
  const adopted = adoptReportedLimits(state, reported, policy);
  const usage = await ledger.windowUsage(tx, scope);
  const sample = sampleToRecord(
    {
      at: now,
      kind: 'reported-limit',
      tokens: usage.tokens,
      requests: usage.requests,
      windowMs: ledger.policy.windowMs,
      retryAfterMs: null,
      limitTokens: adopted.state.reportedTokenLimit,
      limitRequests: adopted.state.reportedRequestLimit,
    },
    policy,
  );
  if (sample !== null) await tx.limiter.recordSample(scope, sample);
  return adopted;
}
