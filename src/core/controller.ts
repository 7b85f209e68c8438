import { needOn, type Report } from './reported.js';
import type { LimiterPolicy, LimiterState, TokenEstimate, WindowUsage } from './types.js';

export type BudgetKind = 'tokens' | 'requests';

export type AdjustmentReason = 'raise' | 'recover' | 'cut' | 'config' | 'reported-limit' | 'ceiling' | 'learned-at-429';

export interface BudgetAdjustment {
  kind: BudgetKind;
  from: number | null;
  to: number | null;
  reason: AdjustmentReason;
  gates: GateReport | null;
  detail: string;
}

export interface Gate {
  open: boolean;
  why: string;
}

/** The anti-windup gates: the budget may rise only when every one is open. */
export interface GateReport {
  history: Gate;
  consumption: Gate;
  quiet: Gate;
  headroom: Gate;
  pace: Gate;
}

export function allOpen(gates: GateReport): boolean {
  return Object.values(gates).every((gate) => gate.open);
}

export function budgetOf(state: LimiterState, kind: BudgetKind): number | null {
  return kind === 'tokens' ? state.tokenBudget : state.requestBudget;
}

export function withBudget(state: LimiterState, kind: BudgetKind, value: number | null): LimiterState {
  return kind === 'tokens' ? { ...state, tokenBudget: value } : { ...state, requestBudget: value };
}

/** A duration as the controller's explanations write it: `60 s`. */
export const seconds = (ms: number): string => `${Math.round(ms / 1000)} s`;

/**
 * The upstream's reported limit times the safety margin, scaled from the period the limit is
 * per to the configured window: a per-minute limit applied whole to a 10 s window would be six
 * times too large.
 */
export function scaledReportedLimit(reported: number | null, policy: LimiterPolicy): number | null {
  if (reported === null) return null;
  return Math.max(1, Math.floor((reported * policy.safetyMargin * policy.windowMs) / policy.limitPeriodMs));
}

export function reportedLimitOf(state: LimiterState, kind: BudgetKind): number | null {
  return kind === 'tokens' ? state.reportedTokenLimit : state.reportedRequestLimit;
}

/**
 * The highest budget the controller may reach: the configured maximum and the upstream's
 * reported limit (scaled, times the safety margin), whichever is lower. With neither, the
 * configured budget itself: the controller then only wins back what a 429 cut.
 */
export function budgetCeiling(state: LimiterState, kind: BudgetKind, policy: LimiterPolicy): number | null {
  const configuredMax = kind === 'tokens' ? policy.tokenBudgetMax : policy.requestBudgetMax;
  const fromReported = scaledReportedLimit(reportedLimitOf(state, kind), policy);
  const candidates = [configuredMax, fromReported].filter((value): value is number => value !== null);
  if (candidates.length > 0) return Math.min(...candidates);
  return kind === 'tokens' ? policy.tokenBudget : policy.requestBudget;
}

/**
 * The level known to be safe, which recovery returns to after a cooldown: the configured
 * budget, else the reported limit scaled and times the margin; never above the ceiling.
 * Without either there is nothing known: only the gated raise can move the budget.
 */
export function knownGood(state: LimiterState, kind: BudgetKind, policy: LimiterPolicy): number | null {
  const configured = kind === 'tokens' ? policy.tokenBudget : policy.requestBudget;
  const level = configured ?? scaledReportedLimit(reportedLimitOf(state, kind), policy);
  const ceiling = budgetCeiling(state, kind, policy);
  return level === null ? null : ceiling === null ? level : Math.min(level, ceiling);
}

/**
 * The start of the current stretch of traffic, which the history gate measures. A window that
 * passes without a single request ends a stretch: a proxy back after a long idle gap has no
 * evidence about today's traffic, whatever it saw last week.
 */
export function trafficSince(stretchStart: number | null, requestsInWindow: number, now: number): number {
  return stretchStart === null || requestsInWindow === 0 ? now : stretchStart;
}

/**
 * `processStartedAt` is when this proxy process started: history counts from it at the
 * earliest, so that a restarted proxy raises nothing on the strength of what it saw before.
 */
export function evaluateGates(
  state: LimiterState,
  kind: BudgetKind,
  usage: WindowUsage,
  now: number,
  policy: LimiterPolicy,
  processStartedAt: number | null = null,
): GateReport {
  const budget = budgetOf(state, kind);
  const ceiling = budgetCeiling(state, kind, policy);
  const used = kind === 'tokens' ? usage.tokens : usage.requests;
  const historyStart = state.firstRequestAt === null ? null : Math.max(state.firstRequestAt, processStartedAt ?? state.firstRequestAt);
  const historyMs = historyStart === null ? 0 : now - historyStart;
  const needed = budget === null ? 0 : Math.ceil(budget * policy.minConsumption);
  const sinceLast429 = state.last429At === null ? null : now - state.last429At;
  const sinceRaise = state.lastRaiseAt === null ? null : now - state.lastRaiseAt;
  return {
    history: {
      open: historyMs >= policy.minHistoryMs,
      why: `${seconds(historyMs)} of traffic history, ${seconds(policy.minHistoryMs)} needed`,
    },
    consumption: {
      open: budget !== null && used >= needed && used > 0,
      why:
        budget === null
          ? 'no budget in force'
          : `${used} used in the last window, ${needed} (${policy.minConsumption * 100} % of ${budget}) needed`,
    },
    quiet: {
      open: sinceLast429 === null || sinceLast429 >= policy.quietPeriodMs,
      why:
        sinceLast429 === null
          ? 'no upstream 429 on record'
          : `last upstream 429 ${seconds(sinceLast429)} ago, ${seconds(policy.quietPeriodMs)} of quiet needed`,
    },
    headroom: {
      open: budget !== null && ceiling !== null && budget < ceiling,
      why: budget === null || ceiling === null ? 'no ceiling to rise towards' : `budget ${budget}, ceiling ${ceiling}`,
    },
    pace: {
      open: sinceRaise === null || sinceRaise >= policy.windowMs,
      why: sinceRaise === null ? 'never raised' : `last raise ${seconds(sinceRaise)} ago, one step per window`,
    },
  };
}

/**
 * Recovery: back to the known-good level after a cooldown, which is not a raise. It needs a
 * successful probe, a window without a 429 since, a window of this process's own uptime and a
 * window that carried traffic (an idle one says nothing of the upstream); then half the way at
 * once and the rest a window later: back within three windows of the probe. Unlike a raise it
 * asks for no share of the budget used: a light user would otherwise never get back what one
 * 429 cut (the halfway level is far above what it sends). Where a fresh report shows room, a cut
 * heals at once instead (cutHealing.ts).
 */
function recoveryStep(
  state: LimiterState,
  kind: BudgetKind,
  usage: WindowUsage,
  now: number,
  policy: LimiterPolicy,
  processStartedAt: number | null,
): number | null {
  const budget = budgetOf(state, kind);
  const target = knownGood(state, kind, policy);
  const probedAt = state.lastProbeSuccessAt;
  if (budget === null || target === null || budget >= target || probedAt === null) return null;
  const windowMs = policy.windowMs;
  const used = kind === 'tokens' ? usage.tokens : usage.requests;
  const quietWindow = state.last429At === null || now - state.last429At >= windowMs;
  const settled = processStartedAt === null || now - processStartedAt >= windowMs;
  const consumed = used > 0;
  const paced = state.lastRaiseAt === null || now - state.lastRaiseAt >= windowMs;
  if (state.cooldownUntil !== null || now - probedAt < windowMs || !quietWindow || !settled || !consumed || !paced) return null;
  return now - probedAt >= 2 * windowMs ? target : budget + Math.ceil((target - budget) / 2);
}

/**
 * One controller step for each budget: recovery when it is below the known-good level, else a
 * raise by `raiseStep` when all its gates are open (never above the ceiling, which is the
 * known-good level whenever the upstream reports its limit).
 */
export function considerRaise(
  state: LimiterState,
  usage: WindowUsage,
  now: number,
  policy: LimiterPolicy,
  processStartedAt: number | null = null,
): { state: LimiterState; adjustments: BudgetAdjustment[] } {
  let next = state;
  const adjustments: BudgetAdjustment[] = [];
  for (const kind of ['tokens', 'requests'] as const) {
    const budget = budgetOf(next, kind);
    const target = knownGood(next, kind, policy);
    const recovered =
      budget !== null && target !== null && budget < target ? recoveryStep(next, kind, usage, now, policy, processStartedAt) : null;
    if (recovered !== null) {
      adjustments.push({
        kind,
        from: budget,
        to: recovered,
        reason: 'recover',
        gates: null,
        detail: `probe succeeded and a window passed without a 429; known-good ${target}`,
      });
      next = withBudget(next, kind, recovered);
      continue;
    }
    const gates = evaluateGates(next, kind, usage, now, policy, processStartedAt);
    const ceiling = budgetCeiling(next, kind, policy);
    if (!allOpen(gates) || budget === null || ceiling === null) continue;
    const raised = Math.min(ceiling, Math.max(budget + 1, Math.ceil(budget * (1 + policy.raiseStep))));
    adjustments.push({
      kind,
      from: budget,
      to: raised,
      reason: 'raise',
      gates,
      detail: `every gate open; +${policy.raiseStep * 100} % step`,
    });
    next = withBudget(next, kind, raised);
  }
  if (adjustments.length > 0) next = { ...next, lastRaiseAt: now };
  return { state: next, adjustments };
}

/** What a 429's headers say of one limit: it ran out, it had room, or they do not say. */
export type Verdict = 'exhausted' | 'room' | 'unknown';

/** Which limits an upstream 429 was about. */
export interface Blame {
  tokens: Verdict;
  requests: Verdict;
}

/** A 429 without rate-limit headers: every limit is a suspect. */
export const unknownBlame: Blame = { tokens: 'unknown', requests: 'unknown' };

/**
 * What the 429's headers say of each limit: exhausted when its remaining (less its rounding)
 * could not hold this request, room when it could, unknown when no header reported it.
 */
export function blame429(reports: readonly Report[], estimate: TokenEstimate): Blame {
  const verdict = (kind: BudgetKind): Verdict => {
    const mine = reports.filter((report) => (report.dimension === 'requests') === (kind === 'requests'));
    if (mine.length === 0) return 'unknown';
    return mine.some((report) => report.remaining - report.roundingSlack < needOn(report.dimension, estimate)) ? 'exhausted' : 'room';
  };
  const tokens = verdict('tokens');
  const requests = verdict('requests');
  // A limit the headers show exhausted explains the 429: the unreported one is not a suspect then.
  if (tokens === 'exhausted' && requests === 'unknown') return { tokens, requests: 'room' };
  if (requests === 'exhausted' && tokens === 'unknown') return { tokens: 'room', requests };
  return { tokens, requests };
}

/**
 * Whether a 429 cuts a budget: one its headers show exhausted; one they do not report, when it
 * exists (a token budget may also be learned from nothing, a request budget only from headers
 * that blame the request limit); never one they show had room.
 */
function blamed(kind: BudgetKind, verdict: Verdict, budget: number | null): boolean {
  if (verdict === 'exhausted') return true;
  if (verdict === 'room') return false;
  return budget !== null || kind === 'tokens';
}

/**
 * The cut at an upstream 429: multiplicative, from the lower of the budget and what was really
 * in the window, on the limits the 429 was about only. A 429 with nothing in the window carries
 * no evidence of the limit: no cut. A cut never goes below one typical request of that window
 * (what it held over the requests it held), and never above the ceiling.
 */
export function cutAt429(
  state: LimiterState,
  usage: WindowUsage,
  blame: Blame,
  policy: LimiterPolicy,
): { state: LimiterState; adjustments: BudgetAdjustment[] } {
  let next = state;
  const adjustments: BudgetAdjustment[] = [];
  for (const kind of ['tokens', 'requests'] as const) {
    const budget = budgetOf(next, kind);
    const used = kind === 'tokens' ? usage.tokens : usage.requests;
    if (used <= 0 || !blamed(kind, blame[kind], budget)) continue;
    const typical = kind === 'tokens' ? Math.ceil(usage.tokens / Math.max(1, usage.requests)) : 1;
    const base = budget === null ? used : Math.min(budget, used);
    const ceiling = budgetCeiling(next, kind, policy);
    const floored = Math.max(typical, Math.floor(base * policy.cutFactor));
    const cut = ceiling === null ? floored : Math.min(ceiling, floored);
    if (cut === budget) continue;
    adjustments.push({
      kind,
      from: budget,
      to: cut,
      reason: budget === null ? 'learned-at-429' : 'cut',
      gates: null,
      detail: `upstream 429 with ${used} in the window; ×${policy.cutFactor} from ${base}, floor ${typical} (one typical request)${ceiling !== null && floored > ceiling ? `, ceiling ${ceiling}` : ''}`,
    });
    next = withBudget(next, kind, cut);
  }
  return { state: next, adjustments };
}
