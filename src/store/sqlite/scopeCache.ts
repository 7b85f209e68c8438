import type { ReportedRemaining } from '../../core/reported.js';
import type { LimiterState, UsageBucket } from '../../core/types.js';
import type { LimiterStore } from './limiterStore.js';
import type { ReportedStore } from './reportedStore.js';

/** The window's buckets from `oldestStart` on, summed, kept up to date by this connection's own bucket writes. */
interface WindowTotals {
  oldestStart: number;
  /** MIN(start) of the rows summed; null while there is none. */
  firstStart: number | null;
  inputTokens: number;
  outputTokens: number;
  requests: number;
}

/**
 * What the request path reads of a scope on every event (its limiter state, its window's totals,
 * its reports), kept in memory between this connection's write transactions so that it is not
 * read back after being written. It is valid only while no other connection has committed: the
 * store checks `PRAGMA data_version` at every BEGIN IMMEDIATE and clears it when that moved, and
 * clears it too when anything this connection wrote is rolled back. Every write path of these
 * tables on this connection goes through here, and updates the copy or drops it.
 */
export class ScopeCache {
  private readonly states = new Map<string, LimiterState>();
  private readonly totals = new Map<string, WindowTotals>();
  private readonly reportsByScope = new Map<string, ReportedRemaining[]>();

  constructor(
    private readonly limiter: LimiterStore,
    private readonly reported: ReportedStore,
  ) {}

  clear(): void {
    this.states.clear();
    this.totals.clear();
    this.reportsByScope.clear();
  }

  readState(scope: string): LimiterState | null {
    const cached = this.states.get(scope);
    if (cached !== undefined) return { ...cached };
    const state = this.limiter.readState(scope);
    if (state !== null) this.states.set(scope, { ...state });
    return state;
  }

  /** ON CONFLICT DO NOTHING: what the row holds afterwards is read back when next asked. */
  createState(scope: string, state: LimiterState, now: number): void {
    this.states.delete(scope);
    this.limiter.createState(scope, state, now);
  }

  writeState(scope: string, state: LimiterState, now: number): void {
    this.limiter.writeState(scope, state, now);
    if (this.states.has(scope)) this.states.set(scope, { ...state });
  }

  bucketTotalsFrom(scope: string, oldestStart: number): UsageBucket {
    let totals = this.totals.get(scope);
    if (totals === undefined || totals.oldestStart !== oldestStart) {
      totals = { oldestStart, ...this.limiter.windowTotalsFrom(scope, oldestStart) };
      this.totals.set(scope, totals);
    }
    return { start: totals.firstStart ?? oldestStart, inputTokens: totals.inputTokens, outputTokens: totals.outputTokens, requests: totals.requests };
  }

  addToBucket(scope: string, start: number, inputTokens: number, outputTokens: number, requests: number): void {
    this.limiter.addToBucket(scope, start, inputTokens, outputTokens, requests);
    const totals = this.totals.get(scope);
    if (totals === undefined || start < totals.oldestStart) return;
    totals.firstStart = totals.firstStart === null ? start : Math.min(totals.firstStart, start);
    totals.inputTokens += inputTokens;
    totals.outputTokens += outputTokens;
    totals.requests += requests;
  }

  /** Retention deletes buckets: the totals are read again. */
  pruneBefore(requestsBefore: number, bucketsBefore: number, dailyBefore: number): { requests: number; buckets: number } {
    const pruned = this.limiter.pruneBefore(requestsBefore, bucketsBefore, dailyBefore);
    if (pruned.buckets > 0) this.totals.clear();
    return pruned;
  }

  reports(scope: string): ReportedRemaining[] {
    let reports = this.reportsByScope.get(scope);
    if (reports === undefined) {
      reports = this.reported.reports(scope);
      this.reportsByScope.set(scope, reports.map((report) => ({ ...report })));
      return reports;
    }
    return reports.map((report) => ({ ...report }));
  }

  writeReport(scope: string, report: ReportedRemaining): void {
    this.reported.writeReport(scope, report);
    const reports = this.reportsByScope.get(scope);
    if (reports === undefined) return;
    const others = reports.filter((known) => known.dimension !== report.dimension);
    // In the table's primary-key order (scope, dimension), as a read returns them.
    this.reportsByScope.set(scope, [...others, { ...report }].sort((a, b) => (a.dimension < b.dimension ? -1 : a.dimension > b.dimension ? 1 : 0)));
  }

  addAdmitted(scope: string, inputTokens: number, outputTokens: number, requests: number): void {
    this.reported.addAdmitted(scope, inputTokens, outputTokens, requests);
    for (const report of this.reportsByScope.get(scope) ?? []) report.admittedSince += perDimension(report, inputTokens, outputTokens, requests);
  }

  correctAdmitted(scope: string, deltaInput: number, deltaOutput: number): void {
    this.reported.correctAdmitted(scope, deltaInput, deltaOutput);
    for (const report of this.reportsByScope.get(scope) ?? []) report.admittedSince = Math.max(0, report.admittedSince + perDimension(report, deltaInput, deltaOutput, 0));
  }
}

/** What one dimension counts of a request: reportedStore's CASE, in memory. */
function perDimension(report: ReportedRemaining, inputTokens: number, outputTokens: number, requests: number): number {
  switch (report.dimension) {
    case 'tokens':
      return inputTokens + outputTokens;
    case 'input-tokens':
      return inputTokens;
    case 'output-tokens':
      return outputTokens;
    default:
      return requests;
  }
}
