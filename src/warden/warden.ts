import { refuseWhileCooling, type RejectReason } from '../core/admission.js';
import { adoptConfiguredBudgets, type BudgetAdjustment } from '../core/controller.js';
import { judgeProbeAtHead } from '../core/probeAtHead.js';
import { defaultScope, type ScopeBudgetRule } from '../core/scopes.js';
import type { LimiterPolicy, LimiterState, WindowUsage } from '../core/types.js';
import type { ReportedRemaining } from '../core/reported.js';
import type { Store } from '../store/port.js';
import { admitInTransaction } from './admitStep.js';
import { resetInTransaction } from './resetCooldownStep.js';
import { BudgetEvents } from './budgetEvents.js';
import type { HeadInput, ScopeCleared, SettleInput, TickResult, Upstream429Input, Upstream429Result } from './eventTypes.js';
import { LearnedOutputs } from './learnedOutputs.js';
import { TickSelection } from './tickSelection.js';
import { joinGroup, type Joined } from './limitGroupSteps.js';
import { OrganizationDirectory } from './organizations.js';
import { adoptGroupReports, adoptReported, stampOf } from './reportAdoption.js';
import { ScopeLedger } from './scopeLedger.js';
import { settleInTransaction, upstream429InTransaction } from './settleSteps.js';
import { tickInTransaction, type PendingRefusals } from './tickStep.js';
import { Upstream429Recorder, type Record429Outcome } from './upstream429Recorder.js';
import * as views from './views.js';
import { quotaRefusal } from '../core/quota.js';
import type { Organization } from '../core/limitGroups.js';
import type { Clock } from '../kernel/clock.js';
import type { Admission, AdmitInput } from './types.js';

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
  private readonly learned: LearnedOutputs;
  private readonly random: () => number;
  private readonly pid: number;
  private pendingRefusals: PendingRefusals = new Map();
  /** The steps every event takes on a scope's rows (scopeLedger.ts). */
  private readonly ledger: ScopeLedger;
  /** The upstream 429s being recorded, and those held while the store could not record them. */
  private readonly upstream429s: Upstream429Recorder;
  /** Budget changes this process committed: logged once by the ticker, counted in the metrics. */
  readonly budgetEvents = new BudgetEvents();
  private readonly tickSelection: TickSelection;
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
    this.learned = new LearnedOutputs(options.clock);
    this.random = options.random ?? Math.random;
    this.pid = options.pid ?? process.pid;
    this.ledger = new ScopeLedger(options.policy, options.scopeBudgets ?? [], options.clock);
    this.tickSelection = new TickSelection(this.ledger.widthMs);
    this.upstream429s = new Upstream429Recorder(options.heldFile, this.pid, options.clock, (requestId, input) => this.upstream429(requestId, input));
  }

  /** Where the data lives, safe to print. */
  get location(): string {
    return this.store.location;
  }

  /** The policy of one scope: the configured limits of the first scope pattern it matches, over the base policy. */
  policyOf(scope: string): LimiterPolicy {
    return this.ledger.policyOf(scope);
  }

  /** The key that keys this database's API-key fingerprints (never leaves the process but to hash). */
  fingerprintSecret(): Promise<string> {
    return this.store.transact((tx) => tx.limiter.fingerprintSecret());
  }

  /** Over a store just opened (created or migrated): adopts a changed configured budget, learns the outputs, records the held 429s of an earlier process. */
  static async open(options: WardenOptions): Promise<Warden> {
    const warden = new Warden(options);
    try {
      await warden.adoptConfiguration();
      await warden.learned.relearn(warden.store);
      await warden.loadOrganizations();
      await warden.upstream429s.restore();
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

  /** An upstream 429 as it arrives: recorded, or held when the store cannot be written (upstream429Recorder.ts); admissions asked meanwhile wait for it. */
  record429(requestId: number, input: Upstream429Input): Promise<Record429Outcome> {
    return this.upstream429s.record429(requestId, input);
  }

  get held429Count(): number {
    return this.upstream429s.count;
  }

  /** Where the held 429s are kept across a stop; null when they are not (in memory only, or the file could not be written). */
  get held429sKeptIn(): string | null {
    return this.upstream429s.keptIn;
  }

  /** Records the held 429s; throws StoreUnavailableError while the store still cannot be written. */
  recordHeld429s(): Promise<(Upstream429Result | null)[]> {
    return this.upstream429s.recordHeld();
  }

  /** Every scope known, and `default`, adopts the budgets the configuration now sets for it. */
  private async adoptConfiguration(): Promise<void> {
    const changes = await this.store.transact(async (tx) => {
      this.startedAt = tx.now;
      const adoptedIn: { scope: string; at: number; adjustments: BudgetAdjustment[] }[] = [];
      const scopes = new Set([defaultScope, ...(await tx.limiter.activeScopes(tx.now - this.policy.windowMs, Number.NEGATIVE_INFINITY))]);
      for (const scope of scopes) {
        const state = await this.ledger.stateOf(tx, scope);
        const adopted = adoptConfiguredBudgets(state, this.policyOf(scope));
        await this.ledger.commit(tx, scope, state, adopted.state, adopted.adjustments);
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
    if (this.upstream429s.recording) await this.upstream429s.recorded();
    const admission = this.upstream429s.heldRefusal(policy) ?? (await this.store.transact((tx) => admitInTransaction(this.ledger, tx, input, scope, policy, this.pid)));
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
      const loaded = await tx.load.request(requestId, { keyScope: this.keyScopes.get(requestId) ?? null });
      if (loaded === null) return;
      const { request } = loaded;
      const { scope } = request;
      const state = await this.ledger.ensureState(tx, scope, loaded.main.state);
      if (request.outcome === 'in-flight') await tx.limiter.markHead(requestId, stampOf(this.ledger, tx, input.reportsReadAt));
      await adoptGroupReports(this.ledger, tx, loaded, input.reports ?? [], input.reportsReadAt, { id: requestId, admittedAt: request.admittedAt });
      const judged = request.outcome === 'in-flight' ? judgeProbeAtHead(state, request, input.status, tx.now) : state;
      const adopted = await adoptReported(this.ledger, tx, scope, judged, input.reported ?? null);
      await this.ledger.commit(tx, scope, state, adopted.state, adopted.adjustments);
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
    const committed = await this.store.transact((tx) => settleInTransaction(this.ledger, tx, requestId, input, this.keyScopes));
    if (committed !== null) this.budgetEvents.record(committed.scope, committed.at, committed.adjustments);
    this.keyScopes.delete(requestId);
  }

  async upstream429(requestId: number, input: Upstream429Input): Promise<Upstream429Result | null> {
    const result = await this.store.transact((tx) => upstream429InTransaction(this.ledger, tx, requestId, input, this.keyScopes, this.random)).finally(() => this.keyScopes.delete(requestId));
    if (result !== null) this.budgetEvents.record(result.scope, this.clock(), result.adjustments);
    return result;
  }

  /** Learned from an answer's headers: the key's organization; its scopes join the organization's groups at once (one transaction). */
  async learnOrganization(fingerprint: string, organization: Organization, keyHint: string | null = null): Promise<Joined[]> {
    const joined = await this.store.transact((tx) => joinGroup(tx, { fingerprint, keyHint }, organization, (scope) => this.ledger.stateOf(tx, scope)));
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
      result = await this.store.transact((tx): Promise<TickResult> => {
        tickedAt = tx.now;
        return tickInTransaction(this.ledger, tx, this.tickSelection, refusals, this.startedAt);
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
    await this.learned.relearn(this.store);
    await this.loadOrganizations();
    return result;
  }

  /** The learned output reservation of a model, or null while too little is known about it. */
  learnedOutput(model: string | null): number | null {
    return this.learned.of(model);
  }

  /** Clears the cooldown of one scope, or (scope null) of every scope that has anything in force. One audit row. */
  async resetCooldown(actor: string, reason: string | null, scope: string | null = null): Promise<{ anything: boolean; scopes: ScopeCleared[] }> {
    const reset = await this.store.transact((tx) => resetInTransaction(this.ledger, tx, actor, reason, scope));
    for (const entry of reset.scopes) this.budgetEvents.record(entry.scope, reset.at, entry.cutsCleared);
    return { anything: reset.anything, scopes: reset.scopes };
  }

  /** Every active scope with its state and window usage (off the request path: health, metrics, the ticker's log). */
  scopeStates(): Promise<{ scope: string; state: LimiterState; usage: WindowUsage; reports: ReportedRemaining[] }[]> {
    return views.scopeStates(this.store, this.ledger);
  }

  /** The states of the scopes touched since `since` and of `also`, with the store's time of the reading (views.ts). */
  touchedStates(since: number, also: Iterable<string>): Promise<{ now: number; states: { scope: string; state: LimiterState }[] }> {
    return views.touchedStates(this.store, this.ledger, since, also);
  }

  /** Whether the scope has ever been seen. */
  hasScope(scope: string): Promise<boolean> {
    return views.hasScope(this.store, scope);
  }

  /** The scopes with usage in the window, anything of a cooldown in force, or a change within the last hour. */
  activeScopes(): Promise<string[]> {
    return this.store.read((tx) => this.ledger.activeScopesIn(tx));
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
    return views.readState(this.store, scope);
  }

  currentUsage(scope: string = defaultScope): Promise<WindowUsage> {
    return this.store.read((tx) => this.ledger.windowUsage(tx, scope));
  }

  /** What a local refusal's headers show: the scope's budgets and, for a budget refusal, the window's usage; one read. */
  refusalView(scope: string, withUsage: boolean): Promise<{ state: LimiterState; usage: WindowUsage | null }> {
    return views.refusalView(this.store, this.ledger, scope, withUsage);
  }
}
