import { initialLimiterState, type LimiterPolicy, type LimiterState } from '../core/types.js';
import { formatDuration } from '../config/durations.js';
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
  const { warden, heartbeat, refusals, log, clock, policy } = setup;
  // Every active scope once, at start; then each tick reads only the scopes touched since the
  // last (and those still cooling or probing, which time alone moves): its cost follows what
  // changed, not how many scopes exist (issue 26 item 4).
  const views = new Map<string, LimiterView>();
  const unsettled = new Map<string, LimiterState>();
  const follow = (scope: string, state: LimiterState, now: number): LimiterView => {
    const view = viewOf(state, now, warden.policyOf(scope));
    views.set(scope, view);
    if (view.breaker === 'closed') unsettled.delete(scope);
    else unsettled.set(scope, state);
    return view;
  };
  let lastLook = clock();
  for (const { scope, state } of await warden.views.scopeStates()) follow(scope, state, lastLook);
  let lastBeat = clock();
  let lastSummary = clock();
  let storeFailing = false;

  async function guarded(work: () => Promise<void>): Promise<void> {
    try {
      await work();
      if (storeFailing) log.info('store-recovered', 'the rate-limit store can be written again');
      storeFailing = false;
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      if (!storeFailing) log.error('store-unavailable', `${error.message}; requests are answered 503 ${error.lost ? 'until a restart' : 'until it can be written again'}`);
      storeFailing = true;
    }
  }

  function summariseRefusals(now: number, final: boolean): void {
    if (!final && now - lastSummary < refusalSummaryMs) return;
    const { cooldown, probe, budget } = refusals.take();
    if (cooldown + probe + budget > 0) {
      const parts = [cooldown > 0 ? `${cooldown} during the cooldown` : '', probe > 0 ? `${probe} after waiting for the probe` : '', budget > 0 ? `${budget} over budget` : ''].filter((part) => part !== '');
      log.info('refusals', `answered ${cooldown + probe + budget} requests locally with 429 in the last ${formatDuration(now - lastSummary)}: ${parts.join(', ')}`, { cooldown, probe, budget });
    }
    lastSummary = now;
  }

  /** An upstream 429 the store could not record when it came (recorder.ts) is recorded now. */
  async function recordHeld429s(): Promise<void> {
    if (warden.upstream429s.count === 0) return;
    for (const result of await warden.upstream429s.recordHeld()) {
      if (result === null) continue;
      const until = new Date(result.cooldownUntil).toISOString();
      log.warn('upstream-429-recorded', `recorded the upstream 429 that was held while the store could not be written; cooling down until ${until}`, { consecutive429s: result.consecutive429s, cooldownUntil: until });
    }
  }

  async function tick(final = false): Promise<void> {
    await guarded(async () => {
      await warden.maintain();
      await recordHeld429s();
      await warden.tick();
      const now = clock();
      if (now - lastBeat >= heartbeatIntervalMs) {
        await heartbeat.beat();
        lastBeat = now;
      }
      // Budget changes are logged by the process that made them, each once with its why
      // (budgetEvents); the state's own budget lines would repeat them a tick apart.
      for (const change of warden.budgetEvents.take()) {
        const line = budgetLogLine(change, policy.windowMs);
        if (line.event === 'budget-cut') log.warn(line.event, line.message, line.fields);
        else log.info(line.event, line.message, line.fields);
      }
      const touched = await warden.views.touchedStates(lastLook, unsettled.keys());
      for (const { scope, state } of touched.states) {
        const before = views.get(scope) ?? viewOf(initialLimiterState, now, policy);
        const after = follow(scope, state, now);
        for (const change of stateEvents(before, after)) log.info(change.event, `${change.message} (scope ${scope})`, { scope });
      }
      // A little behind the reading: a change committed just after it, stamped just before, is not missed (a scope read twice costs nothing).
      lastLook = touched.now - lookBehindMs;
    });
    summariseRefusals(clock(), final);
  }

  // One tick at a time: a tick that outlasts the interval (a slow disk, a server far away) skips the next.
  let running: Promise<void> | null = null;
  // An error that is not the store's (a bug, a driver's surprise) is logged, and the next tick
  // tries again: the request path does not depend on the tick, and an unhandled rejection would
  // end the worker and every stream it carries.
  const reported = (error: unknown): void => {
    log.error('tick-failed', `the periodic tick failed: ${error instanceof Error ? error.message : String(error)}`);
  };
  const timer = setInterval(() => {
    running ??= tick()
      .catch(reported)
      .finally(() => {
        running = null;
      });
  }, tickIntervalFor(policy.windowMs));
  timer.unref();
  return {
    unsettled: () => unsettled,
    async stop() {
      clearInterval(timer);
      await running;
      await tick(true);
    },
  };
}
