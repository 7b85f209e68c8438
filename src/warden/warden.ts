import { decideAdmission, refuseWhileCooling, type RejectReason } from '../core/admission.js';
import { sampleToRecord } from '../core/calibration.js';
import { seedRaise } from '../core/seedRaise.js';
import { adoptConfiguredBudgets, adoptReportedLimits, blame429, considerRaise, trafficSince, type Blame, type BudgetAdjustment } from '../core/controller.js';
import { learnedOutput } from '../core/outputEstimate.js';
import { announcedWaitMs } from '../core/cooldownLength.js';
import { adoptReport, needOn, type Report, type ReportedRemaining } from '../core/reported.js';
import { clearCuts } from '../core/cutHealing.js';
import { reportedCharge, settledCharge, type SettleRule } from '../core/chargeRules.js';
import { judgeProbeAtHead } from '../core/probeAtHead.js';
import { afterSettle, clearCooldown, onUpstream429, somethingCleared, spentTokens, type ClearedCooldown, type SettleOutcome, type SettlingRequest } from '../core/settlement.js';
import { coolAlongside, dailyRefusal, hourStartFor, oldestHourInDay } from '../core/daily.js';
import { defaultScope, keyOfScope, policyForScope, type ScopeBudgetRule } from '../core/scopes.js';
import { initialLimiterState, type LimiterPolicy, type LimiterState, type TokenEstimate, type WindowUsage } from '../core/types.js';
import { bucketStartFor, bucketWidthFor, oldestBucketInWindow, sumWindow } from '../core/window.js';
import { heldFileOfProcess, takeOverHeldFiles, writeHeldFile } from '../store/held429File.js';
import type { ReportCarrier, RequestRecord, Store, StoreTransaction } from '../store/port.js';
import { BudgetEvents } from './budgetEvents.js';
import { withStaleCutsHealed } from './cutHealing.js';
import { Held429s } from './held429s.js';
import { TickSelection } from './tickSelection.js';
import { coolsKeyOnly, joinGroup, keyAdmitted, keyCorrected, keyRefusal, splitReports, stopGroupForQuota, type Joined } from './limitGroupSteps.js';
import { OrganizationDirectory } from './organizations.js';
import { quotaAfterSettle, quotaRefusal } from '../core/quota.js';
import type { Organization } from '../core/limitGroups.js';
import type { Clock } from '../kernel/clock.js';
import type { Admission, AdmitInput, ReportedLimitsForBudget } from './types.js';

export interface WardenOptions {
  /** The warden owns it from here on: close() closes it. */
  store: Store;
  policy: LimiterPolicy;
  /** This process's time: the held 429s' refusals and the relearning pace (events take theirs from the transaction). */
  clock: Clock;
  /** Where the upstream 429s the store could not record are kept across a stop (held429File.ts: the common name, each process writes its own file); null: in memory only. */
  heldFile: string | null;
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
  /** This host's clock when the reports' resets were computed (they are re-based onto the store's time); now when absent. */
  reportsReadAt?: number;
  /** What the upstream does with the unused charge of a request it answered (core/chargeRules.ts); refund when absent. */
  reportedSettle?: SettleRule;
}

/** A response head arrived (not a 429: that is upstream429's): its reports, stamped now, and its status. */
export interface HeadInput {
  status: number;
  reported?: ReportedLimitsForBudget | null;
  reports?: readonly Report[];
  /** As SettleInput's. */
  reportsReadAt?: number;
}

export interface Upstream429Input {
  retryAfterMs: number | null;
  reported?: ReportedLimitsForBudget | null;
  /** What the 429's headers say is left: which limit ran out, and so which budget is cut. */
  reports?: readonly Report[];
  /** As SettleInput's. */
  reportsReadAt?: number;
  /** The upstream's words when the 429 says the quota or spend limit ran out (core/quota.ts): not a rate limit. */
  quota?: string | null;
}

export interface Upstream429Result {
  scope: string;
  /** The other scopes of the same key that the 429 cooled too: its headers said the limit hit is shared. */
  sharedWith: string[];
  /** The scope the cooldown covers: the request's group, or the key's own scope when its own (workspace) limit ran out. */
  cooled: string;
  /** A quota 429: the group stopped until a probe every --quota-probe-interval is served. */
  quota: boolean;
  escalated: boolean;
  cooldownMs: number;
  cooldownUntil: number;
  consecutive429s: number;
  adjustments: BudgetAdjustment[];
}

/** What reset-cooldown cleared in one scope. */
export type ScopeCleared = ClearedCooldown['cleared'] & { scope: string; anything: boolean; cutsCleared: BudgetAdjustment[] };

export interface TickResult {
  adjustments: BudgetAdjustment[];
  /** The same, with the scope each was made in. */
  changes: { scope: string; adjustments: BudgetAdjustment[] }[];
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
 * The limiter service: one method per event, each exactly one transaction of the store that
 * reads the durable state, asks core for the decision and writes it. Opening a warden on an
 * existing store restores everything; nothing is reset by a restart.
 */
export class Warden {
  /**
   * This process's start, in the store's time (the server's on PostgreSQL, as every time the
   * controller compares it with): a restarted proxy neither raises nor recovers on what it saw
   * before. The clock's reading until the first transaction (operator commands run none of the
   * controller).
   */
  private startedAt: number;
  private learned = new Map<string, number | null>();
  private learnedAt = Number.NEGATIVE_INFINITY;
  private readonly random: () => number;
  private readonly pid: number;
  private readonly widthMs: number;
  private pendingRefusals = new Map<string, { cooldown: number; budget: number }>();
  private readonly scopePolicies = new Map<string, LimiterPolicy>();
  private readonly scopeBudgets: readonly ScopeBudgetRule[];
  private readonly held429s = new Held429s();
  /** Budget changes this process committed: logged once by the ticker, counted in the metrics. */
  readonly budgetEvents = new BudgetEvents();
  private readonly tickSelection: TickSelection;
  /** The upstream 429s being recorded now (record429). */
  private readonly recording429s = new Set<Promise<unknown>>();
  /** This process's own held file (held429File.ts), and the common name every process's file starts with. */
  private readonly heldFile: string | null;
  private readonly heldFiles: string | null;
  /** Whether the held 429s are in the held file as they are now (the disk may be full too). */
  private heldFileCurrent = true;
  /** The learned key → organization mapping the request path names groups with (limitGroups.ts). */
  readonly organizations = new OrganizationDirectory();
  /** The key's own scope of each request in flight (its group's scope when the request was admitted without a key of its own). */
  private readonly keyScopes = new Map<number, string>();
  private readonly store: Store;
  readonly policy: LimiterPolicy;
  private readonly clock: Clock;

  private constructor(options: WardenOptions) {
    this.store = options.store;
    this.policy = options.policy;
    this.clock = options.clock;
    this.startedAt = options.clock();
    this.random = options.random ?? Math.random;
    this.pid = options.pid ?? process.pid;
    this.widthMs = bucketWidthFor(options.policy.windowMs);
    this.tickSelection = new TickSelection(this.widthMs);
    this.heldFiles = options.heldFile;
    this.heldFile = options.heldFile === null ? null : heldFileOfProcess(options.heldFile, this.pid);
    this.scopeBudgets = options.scopeBudgets ?? [];
  }

  /** Where the data lives, safe to print. */
  get location(): string {
    return this.store.location;
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
  fingerprintSecret(): Promise<string> {
    return this.store.transact((tx) => tx.limiter.fingerprintSecret());
  }

  /**
   * The scope's state, made on first sight inside the caller's transaction. A new scope starts
   * with the cooldown of `default` when one is in force: that is where a database from before
   * scopes keeps the cooldown it had, which held every request then.
   */
  private async stateOf(tx: StoreTransaction, scope: string): Promise<LimiterState> {
    const known = await tx.limiter.readState(scope);
    if (known !== null) return known;
    const { now } = tx;
    const fallback = scope === defaultScope ? null : await tx.limiter.readState(defaultScope);
    const seed = fallback !== null && fallback.cooldownUntil !== null && fallback.cooldownUntil > now ? coolAlongside(initialLimiterState, fallback.cooldownUntil, fallback.backoffLevel, now) : initialLimiterState;
    const adopted = adoptConfiguredBudgets(seed, this.policyOf(scope));
    await tx.limiter.createState(scope, adopted.state, now);
    for (const adjustment of adopted.adjustments) await tx.limiter.recordAdjustment(scope, now, adjustment);
    return adopted.state;
  }

  /** Over a store just opened (created or migrated): adopts a changed configured budget, learns the outputs, records the held 429s of an earlier process. */
  static async open(options: WardenOptions): Promise<Warden> {
    const warden = new Warden(options);
    try {
      await warden.adoptConfiguration();
      await warden.relearnOutputs();
      await warden.loadOrganizations();
      await warden.restoreHeld429s();
    } catch (error) {
      await options.store.close();
      throw error;
    }
    return warden;
  }

  /**
   * For operator commands (reset-cooldown, calibrate --prune-zero) on a store a proxy made (open
   * it with mustExist): this process's configuration is not adopted, since it may differ from
   * the running proxy's and would move its budgets.
   */
  static openExisting(options: WardenOptions): Warden {
    return new Warden(options);
  }

  /** After every event already asked for. */
  close(): Promise<void> {
    return this.store.close();
  }

  /**
   * Off the request path (the ticker, the health check): the store's upkeep (SQLite: the file
   * still the one opened, the checkpoint that keeps admit and settle free of one) and whether it
   * can still be used; rejects with StoreUnavailableError saying why.
   */
  maintain(): Promise<void> {
    return this.store.maintain();
  }

  /**
   * An upstream 429 the store could not record: held and retried (held429s.ts); admissions are
   * refused meanwhile. Also kept in a file beside the database, so that a stop or a restart
   * while the database stays locked does not lose it (best effort: the disk may be full too).
   */
  private hold429(requestId: number, input: Upstream429Input): void {
    this.held429s.hold(requestId, input, this.clock());
    if (this.heldFile !== null) this.heldFileCurrent = writeHeldFile(this.heldFile, this.held429s.entries());
  }

  /**
   * An upstream 429 as it arrives: recorded, or held when the store cannot be written. Until
   * one or the other, admissions asked wait for it (see admit): on a server the store runs
   * transactions side by side, and one asked after the 429 must not commit and forward while
   * the 429's own transaction fails.
   */
  async record429(requestId: number, input: Upstream429Input): Promise<{ kind: 'recorded'; result: Upstream429Result | null } | { kind: 'held'; because: string }> {
    const recording = this.upstream429(requestId, input).then(
      (result) => ({ kind: 'recorded' as const, result }),
      (error: unknown) => {
        // Fail closed whatever the failure (a statement timeout, a value the store refuses, a
        // bug): a 429 not recorded is held, never dropped (issue 26 item 1).
        this.hold429(requestId, input);
        return { kind: 'held' as const, because: error instanceof Error ? error.message : String(error) };
      },
    );
    this.recording429s.add(recording);
    try {
      return await recording;
    } finally {
      this.recording429s.delete(recording);
    }
  }

  /** At open: the 429s an earlier process held are recorded now, or held again. */
  private async restoreHeld429s(): Promise<void> {
    if (this.heldFile === null || this.heldFiles === null) return;
    // Throws StoreError (exit 3) on a held file that cannot be read: starting without it would forward into a cooldown.
    const entries = takeOverHeldFiles(this.heldFiles, this.heldFile);
    if (entries.length === 0) return;
    for (const entry of entries) this.held429s.restore(entry);
    try {
      await this.recordHeld429s();
    } catch {
      // Still held, whatever stopped them (as record429): the ticker retries, and admissions are refused meanwhile.
    }
  }

  get held429Count(): number {
    return this.held429s.size;
  }

  /** Where the held 429s are kept across a stop; null when they are not (in memory only, or the file could not be written). */
  get held429sKeptIn(): string | null {
    return this.heldFileCurrent ? this.heldFile : null;
  }

  /** Records the held 429s; throws StoreUnavailableError while the store still cannot be written. */
  async recordHeld429s(): Promise<(Upstream429Result | null)[]> {
    try {
      return await this.held429s.recordWith((requestId, input) => this.upstream429(requestId, input));
    } finally {
      if (this.heldFile !== null) this.heldFileCurrent = writeHeldFile(this.heldFile, this.held429s.entries());
    }
  }

  private async windowUsage(tx: StoreTransaction, scope: string): Promise<WindowUsage> {
    return sumWindow([await tx.limiter.bucketTotalsFrom(scope, oldestBucketInWindow(tx.now, this.policy.windowMs, this.widthMs))], this.policy.tokenMetric);
  }

  private async commit(tx: StoreTransaction, scope: string, before: LimiterState, after: LimiterState, adjustments: readonly BudgetAdjustment[]): Promise<void> {
    // Core returns a fresh object even when nothing moved (every success "resets" a count that
    // is already zero); writing it anyway would add a page to every settle's commit.
    if (!sameState(before, after)) await tx.limiter.writeState(scope, after, tx.now);
    for (const adjustment of adjustments) await tx.limiter.recordAdjustment(scope, tx.now, adjustment);
  }

  /** Every scope known, and `default`, adopts the budgets the configuration now sets for it. */
  private async adoptConfiguration(): Promise<void> {
    const changes = await this.store.transact(async (tx) => {
      this.startedAt = tx.now;
      const adoptedIn: { scope: string; at: number; adjustments: BudgetAdjustment[] }[] = [];
      const scopes = new Set([defaultScope, ...(await tx.limiter.activeScopes(tx.now - this.policy.windowMs, Number.NEGATIVE_INFINITY))]);
      for (const scope of scopes) {
        const state = await this.stateOf(tx, scope);
        const adopted = adoptConfiguredBudgets(state, this.policyOf(scope));
        await this.commit(tx, scope, state, adopted.state, adopted.adjustments);
        adoptedIn.push({ scope, at: tx.now, adjustments: adopted.adjustments });
      }
      return adoptedIn;
    });
    for (const change of changes) this.budgetEvents.record(change.scope, change.at, change.adjustments);
  }

  /** `countRefusals` false: the caller (the admission queue) counts only the refusals it really answers. */
  async admit(input: AdmitInput, countRefusals = true): Promise<Admission> {
    const scope = input.scope ?? defaultScope;
    const policy = this.policyOf(scope);
    if (this.recording429s.size > 0) await Promise.allSettled([...this.recording429s]);
    const admission = this.held429s.refusal(this.clock, policy) ?? (await this.store.transact(async (tx): Promise<Admission> => {
      const { now } = tx;
      // One scope's rows only: its state row, its window's aggregate, its reports (all by primary key).
      const state = await this.stateOf(tx, scope);
      const charge = reportedCharge(input.estimate, input.reportedOutput);
      if (input.keyScope) {
        const own = await keyRefusal(tx, input.keyScope, input.estimate, policy, charge);
        if (own !== null) return own;
      }
      const oldest = oldestBucketInWindow(now, policy.windowMs, this.widthMs);
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
      const bucketStart = bucketStartFor(now, this.widthMs);
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
        workerPid: this.pid,
      });
      await tx.limiter.addToBucket(scope, bucketStart, input.estimate.inputTokens, input.estimate.outputTokens, 1);
      if (daily) await tx.limiter.addToDaily(scope, hourStartFor(now), input.estimate.inputTokens, input.estimate.outputTokens, 1);
      if (reports.length > 0) await tx.reported.addAdmitted(scope, charge.inputTokens, charge.outputTokens, 1);
      if (input.model) await tx.reported.setRequestModel(requestId, input.model);
      if (input.keyScope) await keyAdmitted(tx, input.keyScope, charge);
      const since = trafficSince(state.firstRequestAt, totals.requests, now);
      let next = since === state.firstRequestAt ? state : { ...state, firstRequestAt: since };
      if (decision.probe) next = { ...next, probeRequestId: requestId, probeStartedAt: now };
      await this.commit(tx, scope, state, next, []);
      return { kind: 'admitted', requestId, probe: decision.probe, reservedTokens: decision.reservedTokens };
    }));
    if (admission.kind === 'rejected' && countRefusals) this.countRefusal(admission.reason, scope);
    // A request admitted in its key's own scope may settle in a group its key joins meanwhile: its answer's reports are still the key's.
    if (admission.kind === 'admitted') this.keyScopes.set(admission.requestId, input.keyScope ?? scope);
    return admission;
  }

  /**
   * One transaction when a response head arrives (not a 429's): the reports it carries are
   * adopted stamped now, as old as the head, and the half-open probe is judged by its status.
   * The request whose head this is is not counted as sent since: the upstream charged it already.
   */
  async observeHead(requestId: number, input: HeadInput): Promise<void> {
    await this.store.transact(async (tx) => {
      const request = await tx.limiter.findRequest(requestId);
      if (request === null) return;
      const { scope } = request;
      // The scope's row lock first, as admit takes it (see settle).
      const state = await this.stateOf(tx, scope);
      if (request.outcome === 'in-flight') await tx.limiter.markHead(requestId, this.stampOf(tx, input.reportsReadAt));
      await this.adoptGroupReports(tx, scope, this.keyScopes.get(requestId) ?? null, input.reports ?? [], input.reportsReadAt, { id: requestId, admittedAt: request.admittedAt });
      const judged = request.outcome === 'in-flight' ? judgeProbeAtHead(state, request, input.status, tx.now) : state;
      const adopted = await this.adoptReported(tx, scope, judged, input.reported ?? null);
      await this.commit(tx, scope, state, adopted.state, adopted.adjustments);
    });
  }

  /** Read-only: the refusal a cooldown of the scope imposes now, if any (a probe in flight is waited out in the queue). */
  async cooldownRefusal(scope: string = defaultScope): Promise<Admission | null> {
    const read = await this.store.read(async (tx) => ({ state: await tx.limiter.readState(scope), now: tx.now }));
    if (read.state === null) return null;
    const cooling = refuseWhileCooling(read.state, read.now, this.policyOf(scope));
    const refusal = cooling === null ? null : quotaRefusal(read.state, cooling);
    // Waiting out the probe's answer is the queue's to do: only a cooldown or a quota stop refuses everyone at once.
    if (refusal === null || refusal.kind !== 'reject' || refusal.reason === 'probe' || refusal.reason === 'budget') return null;
    this.countRefusal(refusal.reason, scope);
    return { kind: 'rejected', reason: refusal.reason, retryAfterMs: refusal.retryAfterMs, message: refusal.message };
  }

  /** Counts a local 429 decided outside admit (the queue's timeouts and overflow) for the durable totals. */
  countRefusal(reason: RejectReason, scope: string = defaultScope): void {
    let counts = this.pendingRefusals.get(scope);
    if (counts === undefined) {
      counts = { cooldown: 0, budget: 0 };
      this.pendingRefusals.set(scope, counts);
    }
    // The durable totals keep two columns: waiting out a probe and a quota stop's refusals count with the cooldown's.
    counts[reason === 'budget' ? 'budget' : 'cooldown'] += 1;
  }

  /** Replaces the reservation by what was really spent. Settling twice changes nothing. */
  async settle(requestId: number, input: SettleInput): Promise<void> {
    const committed = await this.store.transact(async (tx) => {
      const { now } = tx;
      const request = await this.inFlight(tx, requestId);
      if (request === null) return null;
      const spent = input.reachedUpstream === true ? (input.usage ?? estimateOf(request)) : spentTokens(input.outcome, estimateOf(request), input.usage);
      const { scope } = request;
      // The scope's row lock first, as admit takes it: on PostgreSQL a bucket row locked before it deadlocks with an admit.
      const state = await this.stateOf(tx, scope);
      await this.moveReservation(tx, request, spent, now);
      await tx.limiter.markSettled(requestId, now, input.outcome, input.status, spent.inputTokens, spent.outputTokens);
      // The upstream counts what it answered by its rule; what never reached it gives everything back.
      const answered = input.reachedUpstream === true || input.outcome === 'ok' || input.outcome === 'upstream-error' || input.outcome === 'aborted';
      const charged = { inputTokens: request.estInputTokens, outputTokens: request.chargeOutputTokens };
      const counted = settledCharge(answered ? (input.reportedSettle ?? 'refund-to-usage') : 'refund-to-usage', charged, spent);
      await tx.reported.correctAdmitted(scope, counted.inputTokens - charged.inputTokens, counted.outputTokens - charged.outputTokens);
      await keyCorrected(tx, this.keyScopes.get(requestId) ?? null, scope, counted.inputTokens - charged.inputTokens, counted.outputTokens - charged.outputTokens);
      await this.adoptGroupReports(tx, scope, this.keyScopes.get(requestId) ?? null, input.reports ?? [], input.reportsReadAt);
      const success = input.outcome === 'ok' && input.status !== null && input.status >= 200 && input.status < 300;
      // Only a usage really read is a sample: a kept reservation would teach the estimate itself.
      if (success && input.usage !== null && input.usage.outputTokens > 0) {
        const model = await tx.reported.requestModel(requestId);
        if (model !== null) await tx.reported.recordOutputSample(now, model, input.usage.outputTokens);
      }
      const policy = this.policyOf(scope);
      const settled = quotaAfterSettle(afterSettle(state, settling(request), input.outcome, input.status, now, policy));
      const adopted = await withStaleCutsHealed(tx, scope, await this.adoptReported(tx, scope, settled, input.reported ?? null), policy);
      await this.commit(tx, scope, state, adopted.state, adopted.adjustments);
      return { scope, at: now, adjustments: adopted.adjustments };
    });
    if (committed !== null) this.budgetEvents.record(committed.scope, committed.at, committed.adjustments);
    this.keyScopes.delete(requestId);
  }

  async upstream429(requestId: number, input: Upstream429Input): Promise<Upstream429Result | null> {
    const result = await this.store.transact(async (tx): Promise<Upstream429Result | null> => {
      const { now } = tx;
      const request = await this.inFlight(tx, requestId);
      if (request === null) return null;
      const { scope } = request;
      const policy = this.policyOf(scope);
      // The scope's row lock first, as admit takes it (see settle).
      const state = await this.stateOf(tx, scope);
      await this.moveReservation(tx, request, spentTokens('upstream-429', estimateOf(request), null), now);
      await tx.limiter.markSettled(requestId, now, 'upstream-429', 429, 0, 0);
      await tx.reported.correctAdmitted(scope, -request.estInputTokens, -request.chargeOutputTokens);
      await keyCorrected(tx, this.keyScopes.get(requestId) ?? null, scope, -request.estInputTokens, -request.chargeOutputTokens);
      // What the upstream was asked for, by its own rule: the limit that could not hold it ran out.
      const charged = { inputTokens: request.estInputTokens, outputTokens: request.chargeOutputTokens };
      const keyScope = this.keyScopes.get(requestId) ?? null;
      // A cooldown covers the limit that ran out: the key's own (workspace) limit cools the key only.
      const cooled = keyScope !== null && keyScope !== scope && (await coolsKeyOnly(tx, scope, input.reports ?? [], charged)) ? keyScope : scope;
      await this.adoptGroupReports(tx, scope, keyScope, input.reports ?? [], input.reportsReadAt);
      const usage = await this.windowUsage(tx, scope);
      if (input.quota) return { ...(await stopGroupForQuota(tx, scope, state, this.policyOf(scope).quotaProbeMs, { requestId, retryAfterMs: input.retryAfterMs, usage })), sharedWith: [] };
      const cooledState = cooled === scope ? state : await this.stateOf(tx, cooled);
      const reportedState = input.reported ? { ...cooledState, reportedTokenLimit: input.reported.tokenLimit ?? cooledState.reportedTokenLimit, reportedRequestLimit: input.reported.requestLimit ?? cooledState.reportedRequestLimit } : cooledState;
      const blame = blame429(input.reports ?? [], charged);
      const announced = announcedWaitMs(input.retryAfterMs, input.reports ?? [], charged, input.reportsReadAt ?? now);
      const decision = onUpstream429(reportedState, settling(request), announced, usage, blame, now, policy, this.random());
      await tx.limiter.recordRateLimitEvent(cooled, {
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
      if (decision.sample !== null) await tx.limiter.recordSample(scope, decision.sample);
      await this.commit(tx, cooled, cooledState, decision.state, decision.adjustments);
      const sharedWith = cooled === scope && limitIsShared(blame) ? await this.coolSiblings(tx, scope, decision.state.cooldownUntil ?? now) : [];
      return {
        scope,
        cooled,
        quota: false,
        sharedWith,
        escalated: decision.escalated,
        cooldownMs: decision.cooldownMs,
        cooldownUntil: decision.state.cooldownUntil ?? now,
        consecutive429s: decision.state.consecutive429s,
        adjustments: decision.adjustments,
      };
    }).finally(() => this.keyScopes.delete(requestId));
    if (result !== null) this.budgetEvents.record(result.scope, this.clock(), result.adjustments);
    return result;
  }

  /** Learned from an answer's headers: the key's organization; its scopes join the organization's groups at once (one transaction). */
  async learnOrganization(fingerprint: string, organization: Organization, keyHint: string | null = null): Promise<Joined[]> {
    const joined = await this.store.transact((tx) => joinGroup(tx, { fingerprint, keyHint }, organization, (scope) => this.stateOf(tx, scope)));
    this.organizations.remember({ ...organization, fingerprint, learnedAt: 0 });
    return joined ?? [];
  }

  /** Every process's learned organizations (at open and at every tick). */
  private async loadOrganizations(): Promise<void> {
    this.organizations.replaceAll(await this.store.read((tx) => tx.groups.organizations()));
  }

  /** Periodic, for every active scope: the controller, the window calibration sample, refusal counts; then retention (the store's upkeep is maintain()). */
  async tick(): Promise<TickResult> {
    const refusals = this.pendingRefusals;
    this.pendingRefusals = new Map();
    let result: TickResult;
    let tickedAt = 0;
    try {
      result = await this.store.transact(async (tx): Promise<TickResult> => {
        const { now } = tx;
        tickedAt = now;
        const adjustments: BudgetAdjustment[] = [];
        const changes: TickResult['changes'] = [];
        let windowSampleRecorded = false;
        // What changed since the last tick and a slice of the rest (tickSelection.ts): never every scope at once.
        const scopes = new Set([...(await this.tickSelection.choose(tx, () => this.activeScopesIn(tx))), ...refusals.keys()]);
        for (const scope of scopes) {
          const ticked = await this.tickScope(tx, scope);
          adjustments.push(...ticked.adjustments);
          if (ticked.adjustments.length > 0) changes.push({ scope, adjustments: ticked.adjustments });
          windowSampleRecorded ||= ticked.windowSampleRecorded;
          const counts = refusals.get(scope);
          if (counts !== undefined && counts.cooldown + counts.budget > 0) await tx.limiter.addRefusalCounts(scope, counts.cooldown, counts.budget, now);
        }
        const pruned = await tx.limiter.pruneBefore(now - this.policy.retentionMs, now - this.policy.windowMs - this.widthMs - bucketGraceMs, oldestHourInDay(now) - bucketGraceMs);
        await tx.reported.pruneSamplesBefore(now - this.policy.retentionMs);
        return { adjustments, changes, prunedRequests: pruned.requests, windowSampleRecorded };
      });
    } catch (error) {
      for (const [scope, counts] of refusals) {
        for (let i = 0; i < counts.cooldown; i++) this.countRefusal('cooldown', scope);
        for (let i = 0; i < counts.budget; i++) this.countRefusal('budget', scope);
      }
      throw error;
    }
    for (const change of result.changes) this.budgetEvents.record(change.scope, this.clock(), change.adjustments);
    this.tickSelection.committed(tickedAt);
    await this.relearnOutputs();
    await this.loadOrganizations();
    return result;
  }

  private async tickScope(tx: StoreTransaction, scope: string): Promise<{ adjustments: BudgetAdjustment[]; windowSampleRecorded: boolean }> {
    const { now } = tx;
    const policy = this.policyOf(scope);
    const state = await this.stateOf(tx, scope);
    const usage = await this.windowUsage(tx, scope);
    const healed = await withStaleCutsHealed(tx, scope, { state, adjustments: [] }, policy);
    const considered = policy.unsafeSeedRaise === true ? seedRaise(healed.state, usage, now, policy) : considerRaise(healed.state, usage, now, policy, this.startedAt);
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
    await this.commit(tx, scope, state, next, raised.adjustments);
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
  private async relearnOutputs(): Promise<void> {
    const now = this.clock();
    if (now - this.learnedAt < relearnEveryMs) return;
    this.learnedAt = now;
    const samples = await this.store.read((tx) => tx.reported.outputSamples());
    const next = new Map<string, number | null>();
    for (const [model, outputs] of samples) next.set(model, learnedOutput(outputs));
    this.learned = next;
  }

  /** Clears the cooldown of one scope, or (scope null) of every scope that has anything in force. One audit row. */
  async resetCooldown(actor: string, reason: string | null, scope: string | null = null): Promise<{ anything: boolean; scopes: ScopeCleared[] }> {
    const reset = await this.store.transact(async (tx) => {
      const { now } = tx;
      const scopes = scope !== null ? [scope] : await tx.limiter.activeScopes(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
      const cleared: ScopeCleared[] = [];
      for (const name of scopes) {
        const state = await tx.limiter.readState(name);
        if (state === null) continue;
        const result = clearCooldown(state, now);
        // The budgets the running proxy adopted, not this command's: its configuration may differ.
        const cuts = clearCuts(result.state, { ...this.policyOf(name), tokenBudget: state.configuredTokenBudget, requestBudget: state.configuredRequestBudget });
        const anything = somethingCleared(result.cleared) || cuts.adjustments.length > 0;
        if (anything) await this.commit(tx, name, state, cuts.state, cuts.adjustments);
        cleared.push({ scope: name, ...result.cleared, anything, cutsCleared: cuts.adjustments });
      }
      const anything = cleared.some((entry) => entry.anything);
      await tx.limiter.recordAudit(now, 'reset-cooldown', actor, reason, { scope: scope ?? 'all', anything, scopes: cleared.filter((entry) => entry.anything) });
      return { anything, scopes: cleared, at: now };
    });
    for (const entry of reset.scopes) this.budgetEvents.record(entry.scope, reset.at, entry.cutsCleared);
    return { anything: reset.anything, scopes: reset.scopes };
  }

  /** Every active scope with its state and window usage (off the request path: health, metrics, the ticker's log). */
  scopeStates(): Promise<{ scope: string; state: LimiterState; usage: WindowUsage; reports: ReportedRemaining[] }[]> {
    return this.store.read(async (tx) => {
      const states: { scope: string; state: LimiterState; usage: WindowUsage; reports: ReportedRemaining[] }[] = [];
      for (const scope of await this.activeScopesIn(tx)) {
        states.push({ scope, state: (await tx.limiter.readState(scope)) ?? initialLimiterState, usage: await this.windowUsage(tx, scope), reports: await tx.reported.reports(scope) });
      }
      return states;
    });
  }

  /**
   * The states of the scopes touched since `since` (a usage bucket or a state change, through
   * indexes) and of `also`, with the store's time of the reading: what the ticker follows, at a
   * cost that does not grow with the number of scopes.
   */
  touchedStates(since: number, also: Iterable<string>): Promise<{ now: number; states: { scope: string; state: LimiterState }[] }> {
    return this.store.read(async (tx) => {
      const scopes = new Set([...(await tx.limiter.touchedScopes(bucketStartFor(since, this.widthMs), since)), ...also]);
      const states: { scope: string; state: LimiterState }[] = [];
      for (const scope of scopes) states.push({ scope, state: (await tx.limiter.readState(scope)) ?? initialLimiterState });
      return { now: tx.now, states };
    });
  }

  /** Whether the scope has ever been seen. */
  hasScope(scope: string): Promise<boolean> {
    return this.store.read(async (tx) => (await tx.limiter.readState(scope)) !== null);
  }

  /** The scopes with usage in the window, anything of a cooldown in force, or a change within the last hour. */
  activeScopes(): Promise<string[]> {
    return this.store.read((tx) => this.activeScopesIn(tx));
  }

  private activeScopesIn(tx: StoreTransaction): Promise<string[]> {
    return tx.limiter.activeScopes(oldestBucketInWindow(tx.now, this.policy.windowMs, this.widthMs), tx.now - activeScopeMs);
  }

  /** Removes calibration samples with zero tokens (which ratewarden itself never records). */
  pruneZeroSamples(actor: string, options: { dryRun: boolean }): Promise<number> {
    return this.store.transact(async (tx) => {
      if (options.dryRun) return tx.limiter.countZeroTokenSamples();
      const removed = await tx.limiter.deleteZeroTokenSamples();
      await tx.limiter.recordAudit(tx.now, 'prune-zero-samples', actor, null, { removed });
      return removed;
    });
  }

  /** A scope never seen reads as a fresh one. */
  readState(scope: string = defaultScope): Promise<LimiterState> {
    return this.store.read(async (tx) => (await tx.limiter.readState(scope)) ?? initialLimiterState);
  }

  currentUsage(scope: string = defaultScope): Promise<WindowUsage> {
    return this.store.read((tx) => this.windowUsage(tx, scope));
  }

  /** What a local refusal's headers show: the scope's budgets and, for a budget refusal, the window's usage; one read. */
  refusalView(scope: string, withUsage: boolean): Promise<{ state: LimiterState; usage: WindowUsage | null }> {
    return this.store.read(async (tx) => ({ state: (await tx.limiter.readState(scope)) ?? initialLimiterState, usage: withUsage ? await this.windowUsage(tx, scope) : null }));
  }

  private async inFlight(tx: StoreTransaction, requestId: number): Promise<RequestRecord | null> {
    const request = await tx.limiter.findRequest(requestId);
    return request === null || request.outcome !== 'in-flight' ? null : request;
  }

  /**
   * Input counts where it was admitted (the upstream counts it when the request arrives); the
   * output reservation leaves the admission bucket and what was generated lands in the current
   * one, so that no window holds a long stream's input a stream-length too long.
   */
  private async moveReservation(tx: StoreTransaction, request: RequestRecord, spent: TokenEstimate, now: number): Promise<void> {
    const { scope } = request;
    // The daily window counts at the hour of admission: an hour is far longer than any request.
    if (hasDailyBudget(this.policyOf(scope))) {
      await tx.limiter.addToDaily(scope, hourStartFor(request.admittedAt), spent.inputTokens - request.estInputTokens, spent.outputTokens - request.estOutputTokens, 0);
    }
    const current = bucketStartFor(now, this.widthMs);
    if (current === request.bucketStart) {
      await tx.limiter.addToBucket(scope, current, spent.inputTokens - request.estInputTokens, spent.outputTokens - request.estOutputTokens, 0);
      return;
    }
    await tx.limiter.addToBucket(scope, request.bucketStart, spent.inputTokens - request.estInputTokens, -request.estOutputTokens, 0);
    if (spent.outputTokens !== 0) await tx.limiter.addToBucket(scope, current, 0, spent.outputTokens, 0);
  }

  /**
   * A 429 whose headers say the limit hit is not this scope's own (see limitIsShared) cools every
   * other scope of the same key until the same time; their ladders do not climb.
   */
  private async coolSiblings(tx: StoreTransaction, scope: string, until: number): Promise<string[]> {
    const { now } = tx;
    const key = keyOfScope(scope);
    if (key === null) return [];
    const cooled: string[] = [];
    for (const sibling of await tx.limiter.scopesOfKey(key)) {
      if (sibling === scope) continue;
      const state = await this.stateOf(tx, sibling);
      const next = coolAlongside(state, until, state.backoffLevel, now);
      if (next !== state) {
        await tx.limiter.writeState(sibling, next, now);
        cooled.push(sibling);
      }
    }
    return cooled;
  }

  /** The reports of an answer to a key in a group (limitGroupSteps.ts): all the key's own, and the group's those that describe its limit. */
  private async adoptGroupReports(tx: StoreTransaction, scope: string, keyScope: string | null, reports: readonly Report[], readAt: number | undefined, carrier?: ReportCarrier): Promise<void> {
    if (keyScope === null || keyScope === scope) return this.adoptReports(tx, scope, reports, readAt, carrier);
    const forGroup = await splitReports(tx, scope, reports);
    await this.adoptReports(tx, keyScope, reports, readAt, carrier);
    await this.adoptReports(tx, scope, forGroup, readAt, carrier);
  }

  /**
   * A newer report replaces the last one; what is in flight now is not in it yet, but for
   * `carrier`, the request whose answer's head carried it (the upstream charged it before
   * answering), and those whose head arrived before the carrier was sent.
   * A report is as old as the head that carried it: read at `readAt` on this host's clock, it is
   * stamped that long before the transaction's time, so that one read earlier but committed later
   * never replaces a newer one.
   */
  private async adoptReports(tx: StoreTransaction, scope: string, reports: readonly Report[], readAt: number | undefined, carrier?: ReportCarrier): Promise<void> {
    if (reports.length === 0) return;
    const now = this.stampOf(tx, readAt);
    const known = new Map((await tx.reported.reports(scope)).map((report) => [report.dimension, report]));
    const inFlight = await tx.reported.inFlightSince(scope, now - this.policy.windowMs, carrier);
    for (const report of reports) {
      const reserved = report.dimension === 'requests' ? inFlight.requests : needOn(report.dimension, inFlight);
      const adopted = adoptReport(known.get(report.dimension) ?? null, report, now, reserved, readAt ?? now);
      if (adopted !== null) await tx.reported.writeReport(scope, adopted);
    }
  }

  /** The store's time of something this host saw at `readAt` (its own clock): that long before the transaction's time. */
  private stampOf(tx: StoreTransaction, readAt: number | undefined): number {
    return tx.now - (readAt === undefined ? 0 : Math.max(0, this.clock() - readAt));
  }

  private async adoptReported(tx: StoreTransaction, scope: string, state: LimiterState, reported: ReportedLimitsForBudget | null): Promise<{ state: LimiterState; adjustments: BudgetAdjustment[] }> {
    const { now } = tx;
    if (reported === null || (reported.tokenLimit === null && reported.requestLimit === null)) return { state, adjustments: [] };
    const changed =
      (reported.tokenLimit !== null && reported.tokenLimit !== state.reportedTokenLimit) ||
      (reported.requestLimit !== null && reported.requestLimit !== state.reportedRequestLimit);
    if (!changed) return { state, adjustments: [] };
    const policy = this.policyOf(scope);
    const adopted = adoptReportedLimits(state, reported, policy);
    const usage = await this.windowUsage(tx, scope);
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
    if (sample !== null) await tx.limiter.recordSample(scope, sample);
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
