import type { CooldownRecord, TokenBudgetChange } from '../store/incidentView.js';
import type { CrashRecord } from './crashInjector.js';
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
  startedAt: number;
  endedAt: number;
  windowMs: number;
  tokenLimit: number;
  /** The budget a calibrated proxy settles on: the reported limit times the safety margin. */
  calibratedBudget: number;
  attempts: readonly AttemptRecord[];
  load: LoadCounts;
  upstream: { requests: number; rateLimited: number; receivedWhileExhausted: number };
  lives: readonly LifeRecords[];
  crashes: readonly CrashRecord[];
  /** When the upstream refused everything, in ms from the start: it had no capacity then. */
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
  /** Requests the upstream received. */
  upstreamRequests: number;
  upstream429s: number;
  forwardedWhileExhausted: number;
  /** Admissions recorded inside a cooldown the run had started (whatever became of the process). */
  forwardedDuringCooldown: number;
  /** The same from the clients' side: sent after a cooldown began, answered by the upstream before it ended. */
  forwardedDuringCooldownSeenByClients: number;
  cooldowns: number;
  crashes: number;
  crashesDuringCooldown: number;
  /** Crashes during a cooldown after which nothing was forwarded until that cooldown's end. */
  cooldownsSurvivingCrash: number;
  restarts: number;
  zeroTokenSamples: number;
  tokensServed: number;
  /** What the upstream could have served: its limit per window over the time it was not storming. */
  capacityTokens: number;
  goodput: number;
  /** ms after the start at which the budget first stood at its calibrated value; null if never. */
  calibratedAfterMs: number | null;
  goodputOnceCalibrated: number | null;
  /** What the clients got: answers, local refusals by reason, upstream 429s, errors. */
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

/** The upstream's capacity from `from` to `to` (absolute times): nothing while it storms. */
function capacityBetween(run: RunRecord, from: number, to: number): number {
  const storming = run.storms.reduce((sum, storm) => sum + Math.max(0, Math.min(to, run.startedAt + storm.to) - Math.max(from, run.startedAt + storm.from)), 0);
  return ((to - from - storming) * run.tokenLimit) / run.windowMs;
}

function tokensBetween(attempts: readonly AttemptRecord[], from: number, to: number): number {
  return attempts.reduce((sum, attempt) => (attempt.completedAt !== null && attempt.completedAt >= from && attempt.completedAt < to ? sum + attempt.tokens : sum), 0);
}

/** The figures of the side-by-side table, from what the clients, the upstream and the databases recorded. */
export function measureIncident(run: RunRecord): IncidentFigures {
  const intervals = cooldownIntervals(run.lives.flatMap((life) => life.cooldowns));
  const admissions = run.lives.flatMap((life) => life.admissions);
  const forwarded = run.attempts.filter((attempt) => reachedUpstream(attempt.kind));

  const crashes = run.crashes.filter((crash) => crash.pid !== null);
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

  const capacity = capacityBetween(run, run.startedAt, run.endedAt);
  const tokensServed = tokensBetween(run.attempts, run.startedAt, run.endedAt);
  const budget = budgetTrajectory(run);
  const calibration = budget.points.find((point) => point.tokens === run.calibratedBudget);
  const calibratedAfterMs = calibration === undefined ? null : calibration.at;
  // From one window after calibration: what was admitted before it has aged out by then.
  const steadyFrom = calibratedAfterMs === null ? null : run.startedAt + calibratedAfterMs + run.windowMs;
  const steadyCapacity = steadyFrom === null ? 0 : capacityBetween(run, steadyFrom, run.endedAt);
  const goodputOnceCalibrated = steadyFrom === null || steadyCapacity <= 0 ? null : tokensBetween(run.attempts, steadyFrom, run.endedAt) / steadyCapacity;

  return {
    upstreamRequests: run.upstream.requests,
    upstream429s: run.upstream.rateLimited,
    forwardedWhileExhausted: run.upstream.receivedWhileExhausted,
    forwardedDuringCooldown: admissions.filter((at) => intervalAt(intervals, at) !== undefined).length,
    forwardedDuringCooldownSeenByClients: forwarded.filter((attempt) => intervals.some((interval) => seenInside(attempt, interval, interval.start))).length,
    cooldowns: intervals.length,
    crashes: crashes.length,
    crashesDuringCooldown,
    cooldownsSurvivingCrash: survived,
    restarts: Math.max(0, run.workersStarted - 1),
    zeroTokenSamples: run.lives.reduce((sum, life) => sum + life.zeroTokenSamples, 0),
    tokensServed,
    capacityTokens: Math.round(capacity),
    goodput: capacity > 0 ? tokensServed / capacity : 0,
    calibratedAfterMs,
    goodputOnceCalibrated,
    clients: run.load,
    budget: budget.points,
    budgetCuts: budget.cuts,
    budgetRaises: budget.raises,
    budgetResets: budget.resets,
    endedBy: run.endedBy,
  };
}
