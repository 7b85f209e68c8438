import { initialLimiterState, type LimiterPolicy, type LimiterState } from '../core/types.js';
import { formatDuration } from '../kernel/durations.js';
import { StoreUnavailableError } from '../store/unavailable.js';
import type { Heartbeat } from '../warden/heartbeat.js';
import type { Clock } from '../kernel/clock.js';
import type { Warden } from '../warden/warden.js';
import type { Logger } from '../kernel/log.js';
import type { RefusalCounter } from './refusalCounter.js';
import { budgetLogLine } from './budgetLog.js';
import { stateEvents, viewOf, type LimiterView } from './stateWatch.js';

export interface TickerSetup {
  warden: Warden;
  heartbeat: Heartbeat;
  refusals: RefusalCounter;
  log: Logger;
  clock: Clock;
  policy: LimiterPolicy;
}

/** Each tick: the controller and retention (warden.tick), the heartbeat, the refusal summary, state changes. */
export interface Ticker {
  /** Stops ticking after a last tick (once the one running has ended) that also logs any refusals not yet summarised. */
  stop(): Promise<void>;
  /** The scopes whose breaker was not closed at the last tick, with their state: what the health check names, read from memory. */
  unsettled(): ReadonlyMap<string, LimiterState>;
}

/** Local 429s are summarised in one line at most this often, whatever the tick interval. */
const refusalSummaryMs = 1_000;

/** Often enough to notice a cooldown's end promptly, never more than ten times a window. */
export function tickIntervalFor(windowMs: number): number {
  return Math.max(20, Math.min(1_000, Math.floor(windowMs / 10)));
}

/** How far before its last reading the ticker looks again for changed scopes. */
const lookBehindMs = 1_000;

/** How often the worker proves it is alive in `processes` (status reads it). */
export const heartbeatIntervalMs = 2_000;

export async function startTicker(setup: TickerSetup): Promise<Ticker> {
  const ticking = new Ticking(setup);
  await ticking.followEveryScope();
  return ticking.start();
}

/** The ticker's state between ticks, and one method per thing a tick does. */
class Ticking {
  // Every active scope once, at start; then each tick reads only the scopes touched since the
  // last (and those still cooling or probing, which time alone moves): its cost follows what
  // changed, not how many scopes exist (issue 26 item 4).
  private readonly views = new Map<string, LimiterView>();
  private readonly unsettled = new Map<string, LimiterState>();
  private lastLook: number;
  private lastBeat: number;
  private lastSummary: number;
  private storeFailing = false;
  // One tick at a time: a tick that outlasts the interval (a slow disk, a server far away) skips the next.
  private running: Promise<void> | null = null;

  constructor(private readonly setup: TickerSetup) {
    this.lastLook = setup.clock();
    this.lastBeat = this.lastLook;
    this.lastSummary = this.lastLook;
  }

  async followEveryScope(): Promise<void> {
    const { warden, clock } = this.setup;
    this.lastLook = clock();
    for (const { scope, state } of await warden.views.scopeStates()) this.follow(scope, state, this.lastLook);
    this.lastBeat = clock();
    this.lastSummary = clock();
  }

  start(): Ticker {
    const { log, policy } = this.setup;
    // An error that is not the store's (a bug, a driver's surprise) is logged, and the next tick
    // tries again: the request path does not depend on the tick, and an unhandled rejection would
    // end the worker and every stream it carries.
    const reported = (error: unknown): void => {
      log.error('tick-failed', `the periodic tick failed: ${error instanceof Error ? error.message : String(error)}`);
    };
    const timer = setInterval(() => {
      this.running ??= this.tick()
        .catch(reported)
        .finally(() => {
          this.running = null;
        });
    }, tickIntervalFor(policy.windowMs));
    timer.unref();
    return {
      unsettled: () => this.unsettled,
      stop: async () => {
        clearInterval(timer);
        await this.running;
        await this.tick(true);
      },
    };
  }

  private follow(scope: string, state: LimiterState, now: number): LimiterView {
    const view = viewOf(state, now, this.setup.warden.policyOf(scope));
    this.views.set(scope, view);
    if (view.breaker === 'closed') this.unsettled.delete(scope);
    else this.unsettled.set(scope, state);
    return view;
  }

  private async guarded(work: () => Promise<void>): Promise<void> {
    const { log } = this.setup;
    try {
      await work();
      if (this.storeFailing) log.info('store-recovered', 'the rate-limit store can be written again');
      this.storeFailing = false;
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      if (!this.storeFailing)
        log.error(
          'store-unavailable',
          `${error.message}; requests are answered 503 ${error.lost ? 'until a restart' : 'until it can be written again'}`,
        );
      this.storeFailing = true;
    }
  }

  private summariseRefusals(now: number, final: boolean): void {
    if (!final && now - this.lastSummary < refusalSummaryMs) return;
    const { cooldown, probe, budget } = this.setup.refusals.take();
    if (cooldown + probe + budget > 0) {
      const parts = [
        cooldown > 0 ? `${cooldown} during the cooldown` : '',
        probe > 0 ? `${probe} after waiting for the probe` : '',
        budget > 0 ? `${budget} over budget` : '',
      ].filter((part) => part !== '');
      this.setup.log.info(
        'refusals',
        `answered ${cooldown + probe + budget} requests locally with 429 in the last ${formatDuration(now - this.lastSummary)}: ${parts.join(', ')}`,
        { cooldown, probe, budget },
      );
    }
    this.lastSummary = now;
  }

  /** An upstream 429 the store could not record when it came (recorder.ts) is recorded now. */
  private async recordHeld429s(): Promise<void> {
    const { warden, log } = this.setup;
    if (warden.upstream429s.count === 0) return;
    for (const result of await warden.upstream429s.recordHeld()) {
      if (result === null) continue;
      const until = new Date(result.cooldownUntil).toISOString();
      log.warn(
        'upstream-429-recorded',
        `recorded the upstream 429 that was held while the store could not be written; cooling down until ${until}`,
        { consecutive429s: result.consecutive429s, cooldownUntil: until },
      );
    }
  }

  private async tick(final = false): Promise<void> {
    const { warden, heartbeat, clock } = this.setup;
    await this.guarded(async () => {
      await warden.maintain();
      await this.recordHeld429s();
      await warden.tick();
      const now = clock();
      if (now - this.lastBeat >= heartbeatIntervalMs) {
        await heartbeat.beat();
        this.lastBeat = now;
      }
      this.logBudgetChanges();
      await this.followTouched(now);
    });
    this.summariseRefusals(clock(), final);
  }

  // Budget changes are logged by the process that made them, each once with its why
  // (budgetEvents); the state's own budget lines would repeat them a tick apart.
  private logBudgetChanges(): void {
    const { warden, log, policy } = this.setup;
    for (const change of warden.budgetEvents.take()) {
      const line = budgetLogLine(change, policy.windowMs);
      if (line.event === 'budget-cut') log.warn(line.event, line.message, line.fields);
      else log.info(line.event, line.message, line.fields);
    }
  }

  private async followTouched(now: number): Promise<void> {
    const { warden, log, policy } = this.setup;
    const touched = await warden.views.touchedStates(this.lastLook, this.unsettled.keys());
    for (const { scope, state } of touched.states) {
      const before = this.views.get(scope) ?? viewOf(initialLimiterState, now, policy);
      const after = this.follow(scope, state, now);
      for (const change of stateEvents(before, after)) log.info(change.event, `${change.message} (scope ${scope})`, { scope });
    }
    // A little behind the reading: a change committed just after it, stamped just before, is not missed (a scope read twice costs nothing).
    this.lastLook = touched.now - lookBehindMs;
  }
}
