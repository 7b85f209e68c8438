import type { CooldownRecord, TokenBudgetChange } from '../store/sqlite/incidentView.js';
import type { CrashRecord } from './crashInjector.js';
import type { SetupName } from './incidentScenario.js';
import type { Storm } from './incidentSchedule.js';
import { reachedUpstream, type AttemptRecord, type LoadCounts } from './loadGenerator.js';

/** One worker life's records; a life that kept its state from the one before has none of its own. */
export interface LifeRecords {
  /** When this life's state began empty (its database was new); null when it inherited the state. */
  startedEmptyAt: number | null;
  admissions: readonly number[];
  cooldowns: readonly CooldownRecord[];
  budgetChanges: readonly TokenBudgetChange[];
  zeroTokenSamples: number;
}

/** Everything one run produced, as the replay collected it. */
export interface RunRecord {
  setup: SetupName;
  startedAt: number;
  endedAt: number;
  windowMs: number;
  tokenLimit: number;
  /** The budget a calibrated proxy settles on: the reported limit times the safety margin. */
  calibratedBudget: number;
  attempts: readonly AttemptRecord[];
  load: LoadCounts;
  /** The upstream's own counts: the fleet's requests (through the proxy, or direct), and the second tenant's draws. */
  upstream: {
    requests: number;
    rateLimited: number;
    receivedWhileExhausted: number;
    receivedInsideRetryAfter: number;
    otherTenantTokens: number;
    otherTenant429s: number;
  };
  /** Worker lives; none in the direct run. */
  lives: readonly LifeRecords[];
  /** The scheduled SIGKILLs. */
  crashes: readonly CrashRecord[];
  /** Workers that died of the 429 → crash edge. */
  crashesAfter429s: readonly CrashRecord[];
  /** When the second tenant stormed, in ms from the start. */
  storms: readonly Storm[];
  workersStarted: number;
  endedBy: string | null;
}

export interface BudgetPoint {
  /** ms since the run started. */
  at: number;
  /** The token budget in force from then on; null when none was (nothing known yet). */
  tokens: number | null;
}

export interface IncidentFigures {
  setup: SetupName;
  /** Requests the upstream received from the fleet. */
  upstreamRequests: number;
  upstream429s: number;
  /** Requests that reached the upstream before a Retry-After it had announced to the key ran out. */
  sentInsideRetryAfter: number;
  forwardedWhileExhausted: number;
  /**
   * Admissions recorded inside a cooldown the run had started (whatever became of the process);
   * null in the direct run, which has no cooldown.
   */
  forwardedDuringCooldown: number | null;
  /** The same from the clients' side: sent after a cooldown began, answered by the upstream before it ended. */
  forwardedDuringCooldownSeenByClients: number | null;
  cooldowns: number;
  /** Scheduled SIGKILLs that hit a worker. */
  crashes: number;
  /** Workers that died after K upstream 429s within one window. */
  crashesAfter429s: number;
  crashesDuringCooldown: number;
  /** Crashes during a cooldown after which nothing was forwarded until that cooldown's end. */
  cooldownsSurvivingCrash: number;
  restarts: number;
  /** Restarts that followed a 429 crash. */
  restartsAfter429s: number;
  zeroTokenSamples: number;
  tokensServed: number;
  /** What the upstream could have served the fleet: a full bucket, its refill over the run, less what the second tenant took. */
  capacityTokens: number;
  otherTenantTokens: number;
  goodput: number;
  /** What the clients got: answers, local refusals by reason, upstream 429s, failures by kind. */
  clients: LoadCounts;
  budget: BudgetPoint[];
  budgetCuts: number;
  budgetRaises: number;
  /** Times the budget was forgotten by a restart. */
  budgetResets: number;
  endedBy: string | null;
}

interface Interval {
  start: number;
  end: number;
}

/** The cooldowns as disjoint intervals: a later 429 of the same incident only extends one. */
export function cooldownIntervals(cooldowns: readonly CooldownRecord[]): Interval[] {
  const sorted = [...cooldowns].filter((cooldown) => cooldown.until > cooldown.at).sort((a, b) => a.at - b.at);
  const merged: Interval[] = [];
  for (const { at, until } of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && at <= last.end) last.end = Math.max(last.end, until);
    else merged.push({ start: at, end: until });
  }
  return merged;
}

function intervalAt(intervals: readonly Interval[], at: number): Interval | undefined {
  return intervals.find((interval) => at >= interval.start && at < interval.end);
}

/** A forward the clients saw inside a cooldown: sent after it began, answered by the upstream before its end. */
function seenInside(attempt: AttemptRecord, interval: Interval, after: number): boolean {
  return reachedUpstream(attempt.kind) && attempt.sentAt > Math.max(interval.start, after) && attempt.answeredAt < interval.end;
}

function budgetTrajectory(run: RunRecord): { points: BudgetPoint[]; cuts: number; raises: number; resets: number } {
  const events: { at: number; tokens: number | null; reason: string }[] = [];
  let resets = 0;
  for (const [index, life] of run.lives.entries()) {
    if (life.startedEmptyAt !== null) {
      events.push({ at: life.startedEmptyAt, tokens: null, reason: 'start' });
      if (index > 0) resets += 1;
    }
    for (const change of life.budgetChanges) events.push({ at: change.at, tokens: change.to, reason: change.reason });
  }
  events.sort((a, b) => a.at - b.at);
  return {
    points: events.map((event) => ({ at: Math.max(0, event.at - run.startedAt), tokens: event.tokens })),
    cuts: events.filter((event) => event.reason === 'cut' || event.reason === 'learned-at-429').length,
    raises: events.filter((event) => event.reason === 'raise').length,
    resets,
  };
}

/**
 * What the upstream could have served the fleet over the run: the bucket it starts with (full)
 * plus its refill, less what the second tenant drew. Storms need no special case: the tenant's
 * draws during them are what the fleet could not have had.
 */
function capacityOf(run: RunRecord): number {
  return run.tokenLimit + ((run.endedAt - run.startedAt) * run.tokenLimit) / run.windowMs - run.upstream.otherTenantTokens;
}

function tokensBetween(attempts: readonly AttemptRecord[], from: number, to: number): number {
  return attempts.reduce(
    (sum, attempt) =>
      attempt.completedAt !== null && attempt.completedAt >= from && attempt.completedAt < to ? sum + attempt.tokens : sum,
    0,
  );
}

/** The figures of the side-by-side table, from what the clients, the upstream and the databases recorded. */
export function measureIncident(run: RunRecord): IncidentFigures {
  const intervals = cooldownIntervals(run.lives.flatMap((life) => life.cooldowns));
  const admissions = run.lives.flatMap((life) => life.admissions);
  const forwarded = run.attempts.filter((attempt) => reachedUpstream(attempt.kind));

  const crashes = [...run.crashes.filter((crash) => crash.pid !== null), ...run.crashesAfter429s];
  let crashesDuringCooldown = 0;
  let survived = 0;
  for (const crash of crashes) {
    const interval = intervalAt(intervals, crash.at);
    if (interval === undefined) continue;
    crashesDuringCooldown += 1;
    const admittedAfter = admissions.some((at) => at > crash.at && at < interval.end);
    const seenAfter = forwarded.some((attempt) => seenInside(attempt, interval, crash.at));
    if (!admittedAfter && !seenAfter) survived += 1;
  }

  const capacity = capacityOf(run);
  const tokensServed = tokensBetween(run.attempts, run.startedAt, run.endedAt);
  const budget = budgetTrajectory(run);
  const hasProxy = run.setup !== 'direct';
  const restarts = Math.max(0, run.workersStarted - 1);

  return {
    setup: run.setup,
    upstreamRequests: run.upstream.requests,
    upstream429s: run.upstream.rateLimited,
    sentInsideRetryAfter: run.upstream.receivedInsideRetryAfter,
    forwardedWhileExhausted: run.upstream.receivedWhileExhausted,
    forwardedDuringCooldown: hasProxy ? admissions.filter((at) => intervalAt(intervals, at) !== undefined).length : null,
    forwardedDuringCooldownSeenByClients: hasProxy
      ? forwarded.filter((attempt) => intervals.some((interval) => seenInside(attempt, interval, interval.start))).length
      : null,
    cooldowns: intervals.length,
    crashes: run.crashes.filter((crash) => crash.pid !== null).length,
    crashesAfter429s: run.crashesAfter429s.length,
    crashesDuringCooldown,
    cooldownsSurvivingCrash: survived,
    restarts,
    restartsAfter429s: Math.min(restarts, run.crashesAfter429s.length),
    zeroTokenSamples: run.lives.reduce((sum, life) => sum + life.zeroTokenSamples, 0),
    tokensServed,
    capacityTokens: Math.round(capacity),
    otherTenantTokens: run.upstream.otherTenantTokens,
    goodput: capacity > 0 ? tokensServed / capacity : 0,
    clients: run.load,
    budget: budget.points,
    budgetCuts: budget.cuts,
    budgetRaises: budget.raises,
    budgetResets: budget.resets,
    endedBy: run.endedBy,
  };
}
