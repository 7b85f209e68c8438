import type { Database } from 'better-sqlite3';
import { decideAdmission, refuseWhileCooling } from '../core/admission.js';
import { sampleToRecord } from '../core/calibration.js';
import { seedRaise } from '../core/seedRaise.js';
import { adoptConfiguredBudgets, adoptReportedLimits, blame429, considerRaise, trafficSince, type Blame, type BudgetAdjustment } from '../core/controller.js';
import { learnedOutput } from '../core/outputEstimate.js';
import { adoptReport, needOn, type Report, type ReportedRemaining } from '../core/reported.js';
import { afterSettle, clearCooldown, onUpstream429, somethingCleared, spentTokens, type ClearedCooldown, type SettleOutcome, type SettlingRequest } from '../core/settlement.js';
import { coolAlongside, dailyRefusal, hourStartFor, oldestHourInDay } from '../core/daily.js';
import { defaultScope, keyOfScope, policyForScope, type ScopeBudgetRule } from '../core/scopes.js';
import { initialLimiterState, type LimiterPolicy, type LimiterState, type TokenEstimate, type WindowUsage } from '../core/types.js';
import { bucketStartFor, bucketWidthFor, oldestBucketInWindow, sumWindow } from '../core/window.js';
import { checkpointPassive, deferCheckpoints } from '../store/checkpoint.js';
import { isStoreCorruption, isStoreWriteFailure } from '../store/errors.js';
import { fileChangeSince, fileIdentityOf, type FileIdentity } from '../store/fileIdentity.js';
import { readHeldFile, writeHeldFile } from '../store/held429File.js';
import { LimiterStore, type RequestRecord } from '../store/limiterStore.js';
import { ReportedStore } from '../store/reportedStore.js';
import { openDatabase, type Durability } from '../store/open.js';
import { StoreUnavailableError } from './errors.js';
import { Held429s } from './held429s.js';
import type { Clock } from '../kernel/clock.js';
import type { Admission, AdmitInput, ReportedLimitsForBudget } from './types.js';

export interface WardenOptions {
  dbPath: string;
  policy: LimiterPolicy;
  clock: Clock;
  durability?: Durability;
  busyTimeoutMs?: number;
  /** In [0, 1); only the backoff jitter uses it. */
  random?: () => number;
  pid?: number;
  /** Limits the configuration sets per scope pattern, over `policy`. */
  scopeBudgets?: readonly ScopeBudgetRule[];
}

export interface SettleInput {
  outcome: SettleOutcome;
  status: number | null;
  usage: TokenEstimate | null;
  reported?: ReportedLimitsForBudget | null;
  /** No answer came, but the request may have reached the upstream (and been served): its reservation counts as spent. */
  reachedUpstream?: boolean;
  /** What the answer's headers say is left of each limit. */
  reports?: readonly Report[];
}

export interface Upstream429Input {
  retryAfterMs: number | null;
  reported?: ReportedLimitsForBudget | null;
  /** What the 429's headers say is left: which limit ran out, and so which budget is cut. */
  reports?: readonly Report[];
}

export interface Upstream429Result {
  scope: string;
  /** The other scopes of the same key that the 429 cooled too: its headers said the limit hit is shared. */
  sharedWith: string[];
  escalated: boolean;
  cooldownMs: number;
  cooldownUntil: number;
  consecutive429s: number;
  adjustments: BudgetAdjustment[];
}

/** What reset-cooldown cleared in one scope. */
export type ScopeCleared = ClearedCooldown['cleared'] & { scope: string; anything: boolean };

export interface TickResult {
  adjustments: BudgetAdjustment[];
  prunedRequests: number;
  windowSampleRecorded: boolean;
}

/** How often the learned output reservations are computed again from the samples. */
const relearnEveryMs = 1_000;

/** How long after their window ends usage buckets are kept, for status and calibration. */
const bucketGraceMs = 60_000;

/** A scope whose state changed this recently counts as active (the tick runs its controller; status lists it). */
export const activeScopeMs = 3_600_000;

/**
 * The limiter service: one method per event, each exactly one IMMEDIATE transaction that reads
 * the durable state, asks core for the decision and writes it. Opening a warden on an existing
 * database restores everything; nothing is reset by a restart.
 */
export class Warden {
  private readonly store: LimiterStore;
  private readonly reported: ReportedStore;
  /** This process's start: a restarted proxy neither raises nor recovers on what it saw before. */
  private readonly startedAt: number;
  private learned = new Map<string, number | null>();
  private learnedAt = Number.NEGATIVE_INFINITY;
  private readonly random: () => number;
  private readonly pid: number;
  private readonly widthMs: number;
  private readonly runImmediate: <T>(work: () => T) => T;
  private pendingRefusals = new Map<string, { cooldown: number; budget: number }>();
  private readonly scopePolicies = new Map<string, LimiterPolicy>();
  private readonly scopeBudgets: readonly ScopeBudgetRule[];
  private readonly held429s = new Held429s();
  private readonly dbPath: string;
  private readonly openedFile: FileIdentity;
  /** Set once the file is found deleted, replaced or corrupt: the warden then fails closed for good. */
  private storeProblem: string | null = null;

  private constructor(
    readonly db: Database,
    readonly policy: LimiterPolicy,
    private readonly clock: Clock,
    options: WardenOptions,
  ) {
    this.store = new LimiterStore(db);
    this.reported = new ReportedStore(db);
    this.startedAt = clock();
    deferCheckpoints(db);
    // One transaction function for every event: better-sqlite3 builds four wrappers on each
    // transaction() call, which costs more than all of an admit's queries.
    this.runImmediate = db.transaction((work: () => unknown) => work()).immediate as <T>(work: () => T) => T;
    this.random = options.random ?? Math.random;
    this.pid = options.pid ?? process.pid;
    this.widthMs = bucketWidthFor(policy.windowMs);
    this.dbPath = options.dbPath;
    this.openedFile = fileIdentityOf(options.dbPath);
    this.scopeBudgets = options.scopeBudgets ?? [];
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

  /** The key that keys this database's API-key fingerprints (never leaves the process but to hash). */
  fingerprintSecret(): string {
    return this.guarded(() => this.store.fingerprintSecret());
  }

  /**
   * The scope's state, made on first sight inside the caller's transaction. A new scope starts
   * with the cooldown of `default` when one is in force: that is where a database from before
   * scopes keeps the cooldown it had, which held every request then.
   */
  private stateOf(scope: string, now: number): LimiterState {
    const known = this.store.readState(scope);
    if (known !== null) return known;
    const fallback = scope === defaultScope ? null : this.store.readState(defaultScope);
    const seed = fallback !== null && fallback.cooldownUntil !== null && fallback.cooldownUntil > now ? coolAlongside(initialLimiterState, fallback.cooldownUntil, fallback.backoffLevel, now) : initialLimiterState;
    const adopted = adoptConfiguredBudgets(seed, this.policyOf(scope));
    this.store.createState(scope, adopted.state, now);
    for (const adjustment of adopted.adjustments) this.store.recordAdjustment(scope, now, adjustment);
    return adopted.state;
  }

  /** Opens (creating or migrating) the database and adopts a changed configured budget. */
  static open(options: WardenOptions): Warden {
    const db = openDatabase(options.dbPath, { durability: options.durability ?? 'normal', busyTimeoutMs: options.busyTimeoutMs });
    const warden = new Warden(db, options.policy, options.clock, options);
    try {
      warden.adoptConfiguration();
      warden.relearnOutputs();
    } catch (error) {
      db.close();
      throw error;
    }
    warden.restoreHeld429s();
    return warden;
  }

  /**
   * For operator commands (reset-cooldown, calibrate --prune-zero) on a database a proxy made:
   * a missing file is refused, not created, and this process's configuration is not adopted,
   * since it may differ from the running proxy's and would move its budgets.
   */
  static openExisting(options: WardenOptions): Warden {
    const db = openDatabase(options.dbPath, { durability: options.durability ?? 'normal', busyTimeoutMs: options.busyTimeoutMs, mustExist: true });
    return new Warden(db, options.policy, options.clock, options);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private transaction<T>(work: (now: number) => T): T {
    // A lost store records nothing more: what it would record is gone with the file.
    if (this.storeProblem !== null) throw new StoreUnavailableError(this.storeProblem, true);
    return this.guarded(() => {
      const now = this.clock();
      return this.runImmediate(() => work(now));
    });
  }

  /** Every use of the database: a store that cannot be used becomes a StoreUnavailableError (503). */
  private guarded<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (isStoreCorruption(error)) {
        this.storeProblem = `database ${this.dbPath} is corrupt (${(error as Error).message}); ratewarden fails closed: stop it, move the file aside for inspection and restore a backup`;
        throw new StoreUnavailableError(this.storeProblem, true);
      }
      if (isStoreWriteFailure(error)) {
        throw new StoreUnavailableError(`the rate-limit store cannot be written (${(error as Error).message})`);
      }
      throw error;
    }
  }

  /**
   * Off the request path (the ticker, the health check): SQLite keeps writing to a file that was
   * deleted or replaced under it, so the path is compared with the file that is open. Once it
   * differs the warden fails closed until a restart, which then refuses to start from nothing.
   */
  verifyStoreFile(): void {
    if (this.storeProblem === null) {
      const change = fileChangeSince(this.dbPath, this.openedFile);
      if (change !== null) this.storeProblem = `${change}; ratewarden fails closed and forwards nothing until it is restarted with the database back in place`;
    }
    if (this.storeProblem !== null) throw new StoreUnavailableError(this.storeProblem, true);
  }

  /**
   * An upstream 429 the store could not record: held and retried (held429s.ts); admissions are
   * refused meanwhile. Also kept in a file beside the database, so that a stop or a restart
   * while the database stays locked does not lose it (best effort: the disk may be full too).
   */
  hold429(requestId: number, input: Upstream429Input): void {
    this.held429s.hold(requestId, input, this.clock());
    writeHeldFile(this.dbPath, this.held429s.entries());
  }

  /** At open: the 429s an earlier process held are recorded now, or held again. */
  private restoreHeld429s(): void {
    const entries = readHeldFile(this.dbPath);
    if (entries.length === 0) return;
    for (const entry of entries) this.held429s.restore(entry);
    try {
      this.recordHeld429s();
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
    }
  }

  get held429Count(): number {
    return this.held429s.size;
  }

  /** Records the held 429s; throws StoreUnavailableError while the store still cannot be written. */
  recordHeld429s(): (Upstream429Result | null)[] {
    try {
      return this.held429s.recordWith((requestId, input) => this.upstream429(requestId, input));
    } finally {
      writeHeldFile(this.dbPath, this.held429s.entries());
    }
  }

  private windowUsage(scope: string, now: number): WindowUsage {
    return sumWindow([this.store.bucketTotalsFrom(scope, oldestBucketInWindow(now, this.policy.windowMs, this.widthMs))], this.policy.tokenMetric);
  }

  private commit(scope: string, before: LimiterState, after: LimiterState, adjustments: readonly BudgetAdjustment[], now: number): void {
    // Core returns a fresh object even when nothing moved (every success "resets" a count that
    // is already zero); writing it anyway would add a page to every settle's commit.
    if (!sameState(before, after)) this.store.writeState(scope, after, now);
    for (const adjustment of adjustments) this.store.recordAdjustment(scope, now, adjustment);
  }

  /** Every scope known, and `default`, adopts the budgets the configuration now sets for it. */
  private adoptConfiguration(): void {
    this.transaction((now) => {
      const scopes = new Set([defaultScope, ...this.store.activeScopes(now - this.policy.windowMs, Number.NEGATIVE_INFINITY)]);
      for (const scope of scopes) {
        const state = this.stateOf(scope, now);
        const adopted = adoptConfiguredBudgets(state, this.policyOf(scope));
        this.commit(scope, state, adopted.state, adopted.adjustments, now);
      }
    });
  }

  /** `countRefusals` false: the caller (the admission queue) counts only the refusals it really answers. */
  admit(input: AdmitInput, countRefusals = true): Admission {
    const scope = input.scope ?? defaultScope;
    const policy = this.policyOf(scope);
    const admission = this.held429s.refusal(this.clock, policy) ?? this.transaction((now): Admission => {
      // One scope's rows only: its state row, its window's aggregate, its reports (all by primary key).
      const state = this.stateOf(scope, now);
      const oldest = oldestBucketInWindow(now, policy.windowMs, this.widthMs);
      // Admit or refuse depends on the window's totals alone, so the request path reads one
      // aggregate row; the buckets themselves are read only to time a budget refusal.
      const totals = this.store.bucketTotalsFrom(scope, oldest);
      const reports = policy.unsafeIgnoreReportedRemaining === true ? [] : this.reported.reports(scope);
      let decision = decideAdmission(state, [totals], input.estimate, now, policy, reports);
      if (decision.kind === 'reject' && decision.reason === 'budget') decision = decideAdmission(state, this.store.bucketsFrom(scope, oldest), input.estimate, now, policy, reports);
      if (decision.kind === 'reject') return { kind: 'rejected', reason: decision.reason, retryAfterMs: decision.retryAfterMs, message: decision.message };
      const daily = hasDailyBudget(policy);
      if (daily) {
        const day = this.store.dailyTotalsFrom(scope, oldestHourInDay(now));
        const refusal = dailyRefusal(day, input.estimate, now, policy);
        if (refusal !== null) return { kind: 'rejected', reason: 'budget', retryAfterMs: refusal.retryAfterMs, message: refusal.message };
      }
      const bucketStart = bucketStartFor(now, this.widthMs);
      const requestId = this.store.insertAdmitted({
        scope,
        admittedAt: now,
        bucketStart,
        method: input.method,
        path: input.path,
        probe: decision.probe,
        estInputTokens: input.estimate.inputTokens,
        estOutputTokens: input.estimate.outputTokens,
        workerPid: this.pid,
      });
      this.store.addToBucket(scope, bucketStart, input.estimate.inputTokens, input.estimate.outputTokens, 1);
      if (daily) this.store.addToDaily(scope, hourStartFor(now), input.estimate.inputTokens, input.estimate.outputTokens, 1);
      if (reports.length > 0) this.reported.addAdmitted(scope, input.estimate.inputTokens, input.estimate.outputTokens, 1);
      if (input.model) this.reported.setRequestModel(requestId, input.model);
      const since = trafficSince(state.firstRequestAt, totals.requests, now);
      let next = since === state.firstRequestAt ? state : { ...state, firstRequestAt: since };
      if (decision.probe) next = { ...next, probeRequestId: requestId, probeStartedAt: now };
      this.commit(scope, state, next, [], now);
      return { kind: 'admitted', requestId, probe: decision.probe, reservedTokens: decision.reservedTokens };
    });
    if (admission.kind === 'rejected' && countRefusals) this.countRefusal(admission.reason, scope);
    return admission;
  }

  /** Read-only: the refusal a cooldown (or a probe in flight) of the scope imposes now, if any. */
  cooldownRefusal(scope: string = defaultScope): Admission | null {
    const state = this.guarded(() => this.store.readState(scope));
    if (state === null) return null;
    const refusal = refuseWhileCooling(state, this.clock(), this.policyOf(scope));
    if (refusal === null || refusal.kind !== 'reject') return null;
    this.countRefusal(refusal.reason, scope);
    return { kind: 'rejected', reason: refusal.reason, retryAfterMs: refusal.retryAfterMs, message: refusal.message };
  }

  /** Counts a local 429 decided outside admit (the queue's timeouts and overflow) for the durable totals. */
  countRefusal(reason: 'cooldown' | 'budget', scope: string = defaultScope): void {
    let counts = this.pendingRefusals.get(scope);
    if (counts === undefined) {
      counts = { cooldown: 0, budget: 0 };
      this.pendingRefusals.set(scope, counts);
    }
    counts[reason] += 1;
  }

  /** Replaces the reservation by what was really spent. Settling twice changes nothing. */
  settle(requestId: number, input: SettleInput): void {
    this.transaction((now) => {
      const request = this.inFlight(requestId);
      if (request === null) return;
      const spent = input.reachedUpstream === true ? (input.usage ?? estimateOf(request)) : spentTokens(input.outcome, estimateOf(request), input.usage);
      const { scope } = request;
      this.moveReservation(request, spent, now);
      this.store.markSettled(requestId, now, input.outcome, input.status, spent.inputTokens, spent.outputTokens);
      this.reported.correctAdmitted(scope, spent.inputTokens - request.estInputTokens, spent.outputTokens - request.estOutputTokens);
      this.adoptReports(scope, input.reports ?? [], now);
      const success = input.outcome === 'ok' && input.status !== null && input.status >= 200 && input.status < 300;
      // Only a usage really read is a sample: a kept reservation would teach the estimate itself.
      if (success && input.usage !== null && input.usage.outputTokens > 0) {
        const model = this.reported.requestModel(requestId);
        if (model !== null) this.reported.recordOutputSample(now, model, input.usage.outputTokens);
      }
      const state = this.stateOf(scope, now);
      const policy = this.policyOf(scope);
      const settled = afterSettle(state, settling(request), input.outcome, input.status, now, policy);
      const adopted = this.adoptReported(scope, settled, input.reported ?? null, now);
      this.commit(scope, state, adopted.state, adopted.adjustments, now);
    });
  }

  upstream429(requestId: number, input: Upstream429Input): Upstream429Result | null {
    return this.transaction((now) => {
      const request = this.inFlight(requestId);
      if (request === null) return null;
      const { scope } = request;
      const policy = this.policyOf(scope);
      this.moveReservation(request, spentTokens('upstream-429', estimateOf(request), null), now);
      this.store.markSettled(requestId, now, 'upstream-429', 429, 0, 0);
      this.reported.correctAdmitted(scope, -request.estInputTokens, -request.estOutputTokens);
      this.adoptReports(scope, input.reports ?? [], now);
      const state = this.stateOf(scope, now);
      const usage = this.windowUsage(scope, now);
      const reportedState = input.reported ? { ...state, reportedTokenLimit: input.reported.tokenLimit ?? state.reportedTokenLimit, reportedRequestLimit: input.reported.requestLimit ?? state.reportedRequestLimit } : state;
      const blame = blame429(input.reports ?? [], estimateOf(request));
      const decision = onUpstream429(reportedState, settling(request), input.retryAfterMs, usage, blame, now, policy, this.random());
      this.store.recordRateLimitEvent(scope, {
        at: now,
        requestId,
        retryAfterMs: input.retryAfterMs,
        consecutive429s: decision.state.consecutive429s,
        backoffLevel: decision.state.backoffLevel,
        escalated: decision.escalated,
        cooldownMs: decision.cooldownMs,
        cooldownUntil: decision.state.cooldownUntil ?? now,
        windowTokens: usage.tokens,
        windowRequests: usage.requests,
      });
      if (decision.sample !== null) this.store.recordSample(scope, decision.sample);
      this.commit(scope, state, decision.state, decision.adjustments, now);
      const sharedWith = limitIsShared(blame) ? this.coolSiblings(scope, decision.state.cooldownUntil ?? now, now) : [];
      return {
        scope,
        sharedWith,
        escalated: decision.escalated,
        cooldownMs: decision.cooldownMs,
        cooldownUntil: decision.state.cooldownUntil ?? now,
        consecutive429s: decision.state.consecutive429s,
        adjustments: decision.adjustments,
      };
    });
  }

  /** Periodic, for every active scope: the controller, the window calibration sample, refusal counts; then retention and the WAL checkpoint. */
  tick(): TickResult {
    const refusals = this.pendingRefusals;
    this.pendingRefusals = new Map();
    let result: TickResult;
    try {
      result = this.transaction((now) => {
        const adjustments: BudgetAdjustment[] = [];
        let windowSampleRecorded = false;
        const scopes = new Set([...this.store.activeScopes(oldestBucketInWindow(now, this.policy.windowMs, this.widthMs), now - activeScopeMs), ...refusals.keys()]);
        for (const scope of scopes) {
          const ticked = this.tickScope(scope, now);
          adjustments.push(...ticked.adjustments);
          windowSampleRecorded ||= ticked.windowSampleRecorded;
          const counts = refusals.get(scope);
          if (counts !== undefined && counts.cooldown + counts.budget > 0) this.store.addRefusalCounts(scope, counts.cooldown, counts.budget, now);
        }
        const pruned = this.store.pruneBefore(now - this.policy.retentionMs, now - this.policy.windowMs - this.widthMs - bucketGraceMs, oldestHourInDay(now) - bucketGraceMs);
        this.reported.pruneSamplesBefore(now - this.policy.retentionMs);
        return { adjustments, prunedRequests: pruned.requests, windowSampleRecorded };
      });
    } catch (error) {
      for (const [scope, counts] of refusals) {
        for (let i = 0; i < counts.cooldown; i++) this.countRefusal('cooldown', scope);
        for (let i = 0; i < counts.budget; i++) this.countRefusal('budget', scope);
      }
      throw error;
    }
    this.relearnOutputs();
    this.checkpoint();
    return result;
  }

  private tickScope(scope: string, now: number): { adjustments: BudgetAdjustment[]; windowSampleRecorded: boolean } {
    const policy = this.policyOf(scope);
    const state = this.stateOf(scope, now);
    const usage = this.windowUsage(scope, now);
    const raised = policy.unsafeSeedRaise === true ? seedRaise(state, usage, now, policy) : considerRaise(state, usage, now, policy, this.startedAt);
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
      if (sample !== null) this.store.recordSample(scope, sample);
      windowSampleRecorded = sample !== null;
      next = { ...next, lastWindowSampleAt: now };
    }
    this.commit(scope, state, next, raised.adjustments, now);
    return { adjustments: raised.adjustments, windowSampleRecorded };
  }

  /** The learned output reservation of a model, or null while too little is known about it. */
  learnedOutput(model: string | null): number | null {
    return model === null ? null : (this.learned.get(model) ?? null);
  }

  /**
   * Outside any transaction, like the checkpoint: reads only, so every process learns from
   * every other's samples. At most once a second: a percentile of hundreds of samples moves slowly.
   */
  private relearnOutputs(): void {
    const now = this.clock();
    if (now - this.learnedAt < relearnEveryMs) return;
    this.learnedAt = now;
    const next = new Map<string, number | null>();
    for (const [model, samples] of this.reported.outputSamples()) next.set(model, learnedOutput(samples));
    this.learned = next;
  }

  /** Outside any transaction: the periodic checkpoint that keeps admit and settle free of one (see store/checkpoint.ts). */
  private checkpoint(): void {
    if (this.storeProblem !== null) throw new StoreUnavailableError(this.storeProblem, true);
    this.guarded(() => checkpointPassive(this.db));
  }

  /** Clears the cooldown of one scope, or (scope null) of every scope that has anything in force. One audit row. */
  resetCooldown(actor: string, reason: string | null, scope: string | null = null): { anything: boolean; scopes: ScopeCleared[] } {
    return this.transaction((now) => {
      const scopes = scope !== null ? [scope] : this.store.activeScopes(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
      const cleared: ScopeCleared[] = [];
      for (const name of scopes) {
        const state = this.store.readState(name);
        if (state === null) continue;
        const result = clearCooldown(state, now);
        const anything = somethingCleared(result.cleared);
        if (anything) this.store.writeState(name, result.state, now);
        cleared.push({ scope: name, ...result.cleared, anything });
      }
      const anything = cleared.some((entry) => entry.anything);
      this.store.recordAudit(now, 'reset-cooldown', actor, reason, { scope: scope ?? 'all', anything, scopes: cleared.filter((entry) => entry.anything) });
      return { anything, scopes: cleared };
    });
  }

  /** Every active scope with its state and window usage (off the request path: health, metrics, the ticker's log). */
  scopeStates(): { scope: string; state: LimiterState; usage: WindowUsage; reports: ReportedRemaining[] }[] {
    return this.guarded(() => {
      const now = this.clock();
      return this.store.activeScopes(oldestBucketInWindow(now, this.policy.windowMs, this.widthMs), now - activeScopeMs).map((scope) => ({
        scope,
        state: this.store.readState(scope) ?? initialLimiterState,
        usage: this.windowUsage(scope, now),
        reports: this.reported.reports(scope),
      }));
    });
  }

  /** Whether the scope has ever been seen. */
  hasScope(scope: string): boolean {
    return this.guarded(() => this.store.readState(scope) !== null);
  }

  /** The scopes with usage in the window, anything of a cooldown in force, or a change within the last hour. */
  activeScopes(): string[] {
    return this.guarded(() => {
      const now = this.clock();
      return this.store.activeScopes(oldestBucketInWindow(now, this.policy.windowMs, this.widthMs), now - activeScopeMs);
    });
  }

  /** Removes calibration samples with zero tokens (which ratewarden itself never records). */
  pruneZeroSamples(actor: string, options: { dryRun: boolean }): number {
    return this.transaction((now) => {
      if (options.dryRun) return this.store.countZeroTokenSamples();
      const removed = this.store.deleteZeroTokenSamples();
      this.store.recordAudit(now, 'prune-zero-samples', actor, null, { removed });
      return removed;
    });
  }

  /** A scope never seen reads as a fresh one. */
  readState(scope: string = defaultScope): LimiterState {
    return this.guarded(() => this.store.readState(scope) ?? initialLimiterState);
  }

  currentUsage(scope: string = defaultScope): WindowUsage {
    return this.guarded(() => this.windowUsage(scope, this.clock()));
  }

  private inFlight(requestId: number): RequestRecord | null {
    const request = this.store.findRequest(requestId);
    return request === null || request.outcome !== 'in-flight' ? null : request;
  }

  /**
   * Input counts where it was admitted (the upstream counts it when the request arrives); the
   * output reservation leaves the admission bucket and what was generated lands in the current
   * one, so that no window holds a long stream's input a stream-length too long.
   */
  private moveReservation(request: RequestRecord, spent: TokenEstimate, now: number): void {
    const { scope } = request;
    // The daily window counts at the hour of admission: an hour is far longer than any request.
    if (hasDailyBudget(this.policyOf(scope))) {
      this.store.addToDaily(scope, hourStartFor(request.admittedAt), spent.inputTokens - request.estInputTokens, spent.outputTokens - request.estOutputTokens, 0);
    }
    const current = bucketStartFor(now, this.widthMs);
    if (current === request.bucketStart) {
      this.store.addToBucket(scope, current, spent.inputTokens - request.estInputTokens, spent.outputTokens - request.estOutputTokens, 0);
      return;
    }
    this.store.addToBucket(scope, request.bucketStart, spent.inputTokens - request.estInputTokens, -request.estOutputTokens, 0);
    if (spent.outputTokens !== 0) this.store.addToBucket(scope, current, 0, spent.outputTokens, 0);
  }

  /**
   * A 429 whose headers say the limit hit is not this scope's own (see limitIsShared) cools every
   * other scope of the same key until the same time; their ladders do not climb.
   */
  private coolSiblings(scope: string, until: number, now: number): string[] {
    const key = keyOfScope(scope);
    if (key === null) return [];
    const cooled: string[] = [];
    for (const sibling of this.store.scopesOfKey(key)) {
      if (sibling === scope) continue;
      const state = this.stateOf(sibling, now);
      const next = coolAlongside(state, until, state.backoffLevel, now);
      if (next !== state) {
        this.store.writeState(sibling, next, now);
        cooled.push(sibling);
      }
    }
    return cooled;
  }

  /** A newer report replaces the last one; what is in flight now is not in it yet. */
  private adoptReports(scope: string, reports: readonly Report[], now: number): void {
    if (reports.length === 0) return;
    const known = new Map(this.reported.reports(scope).map((report) => [report.dimension, report]));
    const inFlight = this.reported.inFlightSince(scope, now - this.policy.windowMs);
    for (const report of reports) {
      const reserved = report.dimension === 'requests' ? inFlight.requests : needOn(report.dimension, inFlight);
      const adopted = adoptReport(known.get(report.dimension) ?? null, report, now, reserved);
      if (adopted !== null) this.reported.writeReport(scope, adopted);
    }
  }

  private adoptReported(scope: string, state: LimiterState, reported: ReportedLimitsForBudget | null, now: number): { state: LimiterState; adjustments: BudgetAdjustment[] } {
    if (reported === null || (reported.tokenLimit === null && reported.requestLimit === null)) return { state, adjustments: [] };
    const changed =
      (reported.tokenLimit !== null && reported.tokenLimit !== state.reportedTokenLimit) ||
      (reported.requestLimit !== null && reported.requestLimit !== state.reportedRequestLimit);
    if (!changed) return { state, adjustments: [] };
    const policy = this.policyOf(scope);
    const adopted = adoptReportedLimits(state, reported, policy);
    const usage = this.windowUsage(scope, now);
    const sample = sampleToRecord(
      {
        at: now,
        kind: 'reported-limit',
        tokens: usage.tokens,
        requests: usage.requests,
        windowMs: this.policy.windowMs,
        retryAfterMs: null,
        limitTokens: adopted.state.reportedTokenLimit,
        limitRequests: adopted.state.reportedRequestLimit,
      },
      policy,
    );
    if (sample !== null) this.store.recordSample(scope, sample);
    return adopted;
  }
}

function hasDailyBudget(policy: LimiterPolicy): boolean {
  return policy.dailyTokenBudget !== null || policy.dailyRequestBudget !== null;
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

function sameState(a: LimiterState, b: LimiterState): boolean {
  if (a === b) return true;
  for (const key of Object.keys(a) as (keyof LimiterState)[]) if (a[key] !== b[key]) return false;
  return true;
}

function estimateOf(request: RequestRecord): TokenEstimate {
  return { inputTokens: request.estInputTokens, outputTokens: request.estOutputTokens };
}

function settling(request: RequestRecord): SettlingRequest {
  return { id: request.id, admittedAt: request.admittedAt, probe: request.probe, estimate: estimateOf(request) };
}
