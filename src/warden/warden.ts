import { defaultScope, type ScopeBudgetRule } from '../core/scopes.js';
import type { LimiterPolicy } from '../core/types.js';
import type { Store } from '../store/port.js';
import { admitInTransaction } from './admitStep.js';
import { headInTransaction } from './headStep.js';
import { adoptConfigurationInTransaction } from './configurationAdoption.js';
import { resetInTransaction } from './resetCooldownStep.js';
import { BudgetEvents } from './budgetEvents.js';
import type { HeadInput, ScopeCleared, SettleInput, TickResult, Upstream429Input, Upstream429Result } from './eventTypes.js';
import { LearnedOutputs } from './learnedOutputs.js';
import { TickSelection } from './tickSelection.js';
import { joinGroup, type Joined } from './limitGroupSteps.js';
import { OrganizationDirectory } from './organizations.js';
import { ScopeLedger } from './scopeLedger.js';
import { settleInTransaction, upstream429InTransaction } from './settleSteps.js';
import { RefusalTally } from './refusalTally.js';
import { tickInTransaction } from './tickStep.js';
import { Upstream429Recorder, type Upstream429Access } from './upstream429Recorder.js';
import { WardenViews } from './views.js';
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
  /** The local refusals not yet added to the durable totals (the next tick adds them). */
  readonly refusals = new RefusalTally();
  /** The steps every event takes on a scope's rows (scopeLedger.ts). */
  private readonly ledger: ScopeLedger;
  /** The upstream 429s being recorded, and those held while the store could not record them. */
  private readonly recorder: Upstream429Recorder;
  /** The reads of the durable state that are no event (views.ts). */
  readonly views: WardenViews;
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
    this.recorder = new Upstream429Recorder(options.heldFile, this.pid, options.clock, (requestId, input) =>
      this.upstream429(requestId, input),
    );
    this.views = new WardenViews(this.store, this.ledger);
  }

  /** The upstream 429s as they arrive: recorded, or held while the store cannot record them (upstream429Recorder.ts); admissions asked meanwhile wait for them. */
  get upstream429s(): Upstream429Access {
    return this.recorder;
  }

  /** The output reservation learned per model (learnedOutputs.ts). */
  get learnedOutputs(): Pick<LearnedOutputs, 'of'> {
    return this.learned;
  }

  /** Where the data lives, safe to print. */
  get location(): string {
    return this.store.location;
  }

  /** The policy of one scope: the configured limits of the first scope pattern it matches, over the base policy. */
  policyOf(scope: string): LimiterPolicy {
    return this.ledger.policyOf(scope);
  }

  /** Over a store just opened (created or migrated): adopts a changed configured budget, learns the outputs, records the held 429s of an earlier process. */
  static async open(options: WardenOptions): Promise<Warden> {
    const warden = new Warden(options);
    try {
      await warden.adoptConfiguration();
      await warden.learned.relearn(warden.store);
      await warden.loadOrganizations();
      await warden.recorder.restore();
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

  /** Every scope in use, and `default`, adopts the budgets the configuration now sets for it (configurationAdoption.ts). */
  private async adoptConfiguration(): Promise<void> {
    const adopted = await this.store.transact(async (tx) => {
      this.startedAt = tx.now;
      return { at: tx.now, changes: await adoptConfigurationInTransaction(this.ledger, tx) };
    });
    for (const change of adopted.changes) this.budgetEvents.record(change.scope, adopted.at, change.adjustments);
  }

  /**
   * `countRefusals` false: the caller counts the refusals it really answers (the proxy: where it
   * answers them, handleRequest.ts). `decided` is told the decision inside the transaction, before
   * its COMMIT: only to order what is asked next (the queue's next newcomer), never to act on it.
   */
  async admit(input: AdmitInput, countRefusals = true, decided?: (admission: Admission) => void): Promise<Admission> {
    const scope = input.scope ?? defaultScope;
    const policy = this.policyOf(scope);
    if (this.recorder.recording) await this.recorder.recorded();
    const admission =
      this.recorder.heldRefusal(policy) ??
      (await this.store.transact(async (tx) => {
        const decision = await admitInTransaction(this.ledger, tx, input, scope, policy, this.pid);
        decided?.(decision);
        return decision;
      }));
    if (admission.kind === 'rejected' && countRefusals) this.refusals.count(admission.reason, scope);
    // A request admitted in its key's own scope may settle in a group its key joins meanwhile: its answer's reports are still the key's.
    if (admission.kind === 'admitted') this.keyScopes.set(admission.requestId, input.keyScope ?? scope);
    return admission;
  }

  /** One transaction when a response head arrives (not a 429's): its reports, and the probe judged by its status (headStep.ts). */
  observeHead(requestId: number, input: HeadInput): Promise<void> {
    return this.store.transact((tx) => headInTransaction(this.ledger, tx, requestId, input, this.keyScopes.get(requestId) ?? null));
  }

  /**
   * Replaces the reservation by what was really spent. Settling twice changes nothing. `head`: the
   * answer's head, not yet recorded (an answer that ended in the turn its head came): both events
   * in one transaction, the head's first.
   */
  async settle(requestId: number, input: SettleInput, head?: HeadInput): Promise<void> {
    const keyScope = this.keyScopes.get(requestId) ?? null;
    const committed = await this.store.transact(async (tx) => {
      if (head !== undefined) await headInTransaction(this.ledger, tx, requestId, head, keyScope);
      return settleInTransaction(this.ledger, tx, requestId, input, this.keyScopes);
    });
    if (committed !== null) this.budgetEvents.record(committed.scope, committed.at, committed.adjustments);
    this.keyScopes.delete(requestId);
  }

  /**
   * An admission nobody forwards (its client left, or the queue it waited in gave up on it): its
   * reservation goes back, settled as aborted with nothing spent. A store that cannot be used now
   * leaves it in flight, counting, as any request a worker left behind, until its window ends.
   */
  async giveBack(requestId: number): Promise<void> {
    await this.settle(requestId, { outcome: 'aborted', status: null, usage: { inputTokens: 0, outputTokens: 0 } }).catch(() => undefined);
  }

  async upstream429(requestId: number, input: Upstream429Input): Promise<Upstream429Result | null> {
    const result = await this.store
      .transact((tx) => upstream429InTransaction(this.ledger, tx, requestId, input, this.keyScopes, this.random))
      .finally(() => this.keyScopes.delete(requestId));
    if (result !== null) this.budgetEvents.record(result.scope, this.clock(), result.adjustments);
    return result;
  }

  /** Learned from an answer's headers: the key's organization; its scopes join the organization's groups at once (one transaction). */
  async learnOrganization(fingerprint: string, organization: Organization, keyHint: string | null = null): Promise<Joined[]> {
    const joined = await this.store.transact((tx) =>
      joinGroup(tx, { fingerprint, keyHint }, organization, (scope) => this.ledger.stateOf(tx, scope)),
    );
    this.organizations.remember({ ...organization, fingerprint, learnedAt: 0 });
    return joined ?? [];
  }

  /** Every process's learned organizations (at open and at every tick). */
  private async loadOrganizations(): Promise<void> {
    this.organizations.replaceAll(await this.store.read((tx) => tx.groups.organizations()));
  }

  /** Periodic, for every active scope: the controller, the window calibration sample, refusal counts; then retention (the store's upkeep is maintain()). */
  async tick(): Promise<TickResult> {
    let tickedAt = 0;
    const result = await this.refusals.handOver((refusals) =>
      this.store.transact((tx): Promise<TickResult> => {
        tickedAt = tx.now;
        return tickInTransaction(this.ledger, tx, this.tickSelection, refusals, this.startedAt);
      }),
    );
    for (const change of result.changes) this.budgetEvents.record(change.scope, this.clock(), change.adjustments);
    this.tickSelection.committed(tickedAt);
    await this.learned.relearn(this.store);
    await this.loadOrganizations();
    return result;
  }

  /** Clears the cooldown of one scope, or (scope null) of every scope that has anything in force. One audit row. */
  async resetCooldown(
    actor: string,
    reason: string | null,
    scope: string | null = null,
  ): Promise<{ anything: boolean; scopes: ScopeCleared[] }> {
    const reset = await this.store.transact((tx) => resetInTransaction(this.ledger, tx, actor, reason, scope));
    for (const entry of reset.scopes) this.budgetEvents.record(entry.scope, reset.at, entry.cutsCleared);
    return { anything: reset.anything, scopes: reset.scopes };
  }
}
