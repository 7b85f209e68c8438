import type { ReportedRemaining } from '../../core/reported.js';
import type { LimiterState, UsageBucket } from '../../core/types.js';
import type { AdmittedRequest, RequestOutcome, RequestRecord } from '../port.js';
import type { LimiterStore } from './limiterStore.js';
import type { ReportedStore } from './reportedStore.js';

/**
 * A scope's buckets from `from` on, oldest first, and their sum, kept up to date by this
 * connection's own bucket writes. The window's start moves with every millisecond while its
 * buckets change once a bucket width: as it moves, the buckets it leaves are subtracted.
 */
interface WindowTotals {
  from: number;
  buckets: UsageBucket[];
  inputTokens: number;
  outputTokens: number;
  requests: number;
}

/**
 * What the request path reads on every event (the scope's limiter state, its window's totals,
 * its reports, and the requests this connection admitted that are still in flight), kept in
 * memory between this connection's write transactions so that nothing is read back after being
 * written. It is valid only while no other connection has committed: the store checks
 * `PRAGMA data_version` at every BEGIN IMMEDIATE and clears it when that moved, and clears it
 * too when anything this connection wrote is rolled back. Every write path of these rows on
 * this connection goes through here, and updates the copy or drops it.
 */
export class ScopeCache {
  private readonly states = new Map<string, LimiterState>();
  private readonly totals = new Map<string, WindowTotals>();
  private readonly reportsByScope = new Map<string, ReportedRemaining[]>();
  /** Admitted here and not settled yet: their settle reads them back. */
  private readonly inFlight = new Map<number, RequestRecord>();

  constructor(
    private readonly limiter: LimiterStore,
    private readonly reported: ReportedStore,
  ) {}

  clear(): void {
    this.states.clear();
    this.totals.clear();
    this.reportsByScope.clear();
    this.inFlight.clear();
  }

  insertAdmitted(request: AdmittedRequest): number {
    const id = this.limiter.insertAdmitted(request);
    const { scope, admittedAt, bucketStart, probe, estInputTokens, estOutputTokens, chargeOutputTokens } = request;
    this.inFlight.set(id, {
      id,
      admittedAt,
      bucketStart,
      probe,
      estInputTokens,
      estOutputTokens,
      chargeOutputTokens,
      outcome: 'in-flight',
      scope,
    });
    return id;
  }

  findRequest(id: number): RequestRecord | null {
    const known = this.inFlight.get(id);
    return known !== undefined ? { ...known } : this.limiter.findRequest(id);
  }

  markSettled(
    id: number,
    at: number,
    outcome: RequestOutcome,
    status: number | null,
    inputTokens: number | null,
    outputTokens: number | null,
  ): void {
    this.limiter.markSettled(id, at, outcome, status, inputTokens, outputTokens);
    this.inFlight.delete(id);
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
    if (totals === undefined || oldestStart < totals.from) {
      totals = { from: oldestStart, buckets: this.limiter.bucketsFrom(scope, oldestStart), inputTokens: 0, outputTokens: 0, requests: 0 };
      for (const bucket of totals.buckets) addInto(totals, bucket.inputTokens, bucket.outputTokens, bucket.requests);
      this.totals.set(scope, totals);
    }
    totals.from = oldestStart;
    let left = 0;
    while (left < totals.buckets.length && (totals.buckets[left] as UsageBucket).start < oldestStart) {
      const gone = totals.buckets[left++] as UsageBucket;
      addInto(totals, -gone.inputTokens, -gone.outputTokens, -gone.requests);
    }
    if (left > 0) totals.buckets.splice(0, left);
    return {
      start: totals.buckets[0]?.start ?? oldestStart,
      inputTokens: totals.inputTokens,
      outputTokens: totals.outputTokens,
      requests: totals.requests,
    };
  }

  addToBucket(scope: string, start: number, inputTokens: number, outputTokens: number, requests: number): void {
    this.limiter.addToBucket(scope, start, inputTokens, outputTokens, requests);
    const totals = this.totals.get(scope);
    if (totals === undefined || start < totals.from) return;
    const { buckets } = totals;
    // Nearly always the newest bucket, or one just before it (a settle's admission bucket).
    let at = buckets.length;
    while (at > 0 && (buckets[at - 1] as UsageBucket).start > start) at--;
    const bucket = at > 0 && (buckets[at - 1] as UsageBucket).start === start ? (buckets[at - 1] as UsageBucket) : null;
    if (bucket === null) buckets.splice(at, 0, { start, inputTokens, outputTokens, requests });
    else addInto(bucket, inputTokens, outputTokens, requests);
    addInto(totals, inputTokens, outputTokens, requests);
  }

  /** Retention deletes buckets: the totals are read again. */
  pruneBefore(requestsBefore: number, bucketsBefore: number, dailyBefore: number): { requests: number; buckets: number } {
    const pruned = this.limiter.pruneBefore(requestsBefore, bucketsBefore, dailyBefore);
    if (pruned.buckets > 0) this.totals.clear();
    if (pruned.requests > 0) for (const [id, request] of this.inFlight) if (request.admittedAt < requestsBefore) this.inFlight.delete(id);
    return pruned;
  }

  reports(scope: string): ReportedRemaining[] {
    let reports = this.reportsByScope.get(scope);
    if (reports === undefined) {
      reports = this.reported.reports(scope);
      this.reportsByScope.set(
        scope,
        reports.map((report) => ({ ...report })),
      );
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
    this.reportsByScope.set(
      scope,
      [...others, { ...report }].sort((a, b) => (a.dimension < b.dimension ? -1 : a.dimension > b.dimension ? 1 : 0)),
    );
  }

  /** A scope known to have no report has no row to update: the statement is skipped. */
  addAdmitted(scope: string, inputTokens: number, outputTokens: number, requests: number): void {
    const reports = this.reportsByScope.get(scope);
    if (reports?.length === 0) return;
    this.reported.addAdmitted(scope, inputTokens, outputTokens, requests);
    for (const report of reports ?? []) report.admittedSince += perDimension(report, inputTokens, outputTokens, requests);
  }

  correctAdmitted(scope: string, deltaInput: number, deltaOutput: number): void {
    const reports = this.reportsByScope.get(scope);
    if (reports?.length === 0) return;
    this.reported.correctAdmitted(scope, deltaInput, deltaOutput);
    for (const report of reports ?? []) report.admittedSince += perDimension(report, deltaInput, deltaOutput, 0);
  }
}

function addInto(
  sum: { inputTokens: number; outputTokens: number; requests: number },
  inputTokens: number,
  outputTokens: number,
  requests: number,
): void {
  sum.inputTokens += inputTokens;
  sum.outputTokens += outputTokens;
  sum.requests += requests;
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
