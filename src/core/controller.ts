import type { LimiterPolicy, LimiterState, WindowUsage } from './types.js';

export type BudgetKind = 'tokens' | 'requests';

export type AdjustmentReason = 'raise' | 'cut' | 'config' | 'reported-limit' | 'ceiling' | 'learned-at-429';

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

function budgetOf(state: LimiterState, kind: BudgetKind): number | null {
  return kind === 'tokens' ? state.tokenBudget : state.requestBudget;
}

function withBudget(state: LimiterState, kind: BudgetKind, value: number | null): LimiterState {
  return kind === 'tokens' ? { ...state, tokenBudget: value } : { ...state, requestBudget: value };
}

const seconds = (ms: number): string => `${Math.round(ms / 1000)} s`;

/**
 * The highest budget the controller may reach: the configured maximum and the upstream's
 * reported limit times the safety margin, whichever is lower. With neither, the configured
 * budget itself: the controller then only wins back what a 429 cut.
 */
export function budgetCeiling(state: LimiterState, kind: BudgetKind, policy: LimiterPolicy): number | null {
  const configuredMax = kind === 'tokens' ? policy.tokenBudgetMax : policy.requestBudgetMax;
  const reported = kind === 'tokens' ? state.reportedTokenLimit : state.reportedRequestLimit;
  const fromReported = reported === null ? null : Math.floor(reported * policy.safetyMargin);
  const candidates = [configuredMax, fromReported].filter((value): value is number => value !== null);
  if (candidates.length > 0) return Math.min(...candidates);
  return kind === 'tokens' ? policy.tokenBudget : policy.requestBudget;
}

/**
 * The start of the current stretch of traffic, which the history gate measures. A window that
 * passes without a single request ends a stretch: a proxy back after a long idle gap has no
 * evidence about today's traffic, whatever it saw last week.
 */
export function trafficSince(stretchStart: number | null, requestsInWindow: number, now: number): number {
  return stretchStart === null || requestsInWindow === 0 ? now : stretchStart;
}

export function evaluateGates(
  state: LimiterState,
  kind: BudgetKind,
  usage: WindowUsage,
  now: number,
  policy: LimiterPolicy,
): GateReport {
  const budget = budgetOf(state, kind);
  const ceiling = budgetCeiling(state, kind, policy);
  const used = kind === 'tokens' ? usage.tokens : usage.requests;
  const historyMs = state.firstRequestAt === null ? 0 : now - state.firstRequestAt;
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

/** One controller step: raise each budget by `raiseStep` when all its gates are open. */
export function considerRaise(
  state: LimiterState,
  usage: WindowUsage,
  now: number,
  policy: LimiterPolicy,
): { state: LimiterState; adjustments: BudgetAdjustment[] } {
  let next = state;
  const adjustments: BudgetAdjustment[] = [];
  for (const kind of ['tokens', 'requests'] as const) {
    const gates = evaluateGates(next, kind, usage, now, policy);
    const budget = budgetOf(next, kind);
    const ceiling = budgetCeiling(next, kind, policy);
    if (!allOpen(gates) || budget === null || ceiling === null) continue;
    const raised = Math.min(ceiling, Math.max(budget + 1, Math.ceil(budget * (1 + policy.raiseStep))));
    adjustments.push({ kind, from: budget, to: raised, reason: 'raise', gates, detail: `every gate open; +${policy.raiseStep * 100} % step` });
    next = withBudget(next, kind, raised);
  }
  if (adjustments.length > 0) next = { ...next, lastRaiseAt: now };
  return { state: next, adjustments };
}

/**
 * The cut at an upstream 429: multiplicative, from the lower of the budget and what was really
 * in the window. A 429 with nothing in the window carries no evidence of the limit: no cut.
 * With no token budget yet, the usage at the 429 is the first thing learned about the limit.
 */
export function cutAt429(
  state: LimiterState,
  usage: WindowUsage,
  requestLimitExhausted: boolean,
  policy: LimiterPolicy,
): { state: LimiterState; adjustments: BudgetAdjustment[] } {
  let next = state;
  const adjustments: BudgetAdjustment[] = [];
  for (const kind of ['tokens', 'requests'] as const) {
    const budget = budgetOf(next, kind);
    const used = kind === 'tokens' ? usage.tokens : usage.requests;
    if (used <= 0) continue;
    // Without a request budget, only a 429 that blames the request limit creates one.
    if (budget === null && kind === 'requests' && !requestLimitExhausted) continue;
    const base = budget === null ? used : Math.min(budget, used);
    const cut = Math.max(1, Math.floor(base * policy.cutFactor));
    if (cut === budget) continue;
    adjustments.push({
      kind,
      from: budget,
      to: cut,
      reason: budget === null ? 'learned-at-429' : 'cut',
      gates: null,
      detail: `upstream 429 with ${used} in the window; ×${policy.cutFactor} from ${base}`,
    });
    next = withBudget(next, kind, cut);
  }
  return { state: next, adjustments };
}

/** Budgets the configuration asks for now, when they differ from the ones last adopted. */
export function adoptConfiguredBudgets(
  state: LimiterState,
  policy: LimiterPolicy,
): { state: LimiterState; adjustments: BudgetAdjustment[] } {
  let next = state;
  const adjustments: BudgetAdjustment[] = [];
  const configured = { tokens: policy.tokenBudget, requests: policy.requestBudget };
  const adopted = { tokens: state.configuredTokenBudget, requests: state.configuredRequestBudget };
  for (const kind of ['tokens', 'requests'] as const) {
    if (configured[kind] === adopted[kind]) continue;
    const from = budgetOf(next, kind);
    const reported = kind === 'tokens' ? next.reportedTokenLimit : next.reportedRequestLimit;
    const to = configured[kind] ?? (reported === null ? null : Math.floor(reported * policy.safetyMargin));
    next = withBudget(next, kind, to);
    next =
      kind === 'tokens' ? { ...next, configuredTokenBudget: configured[kind] } : { ...next, configuredRequestBudget: configured[kind] };
    if (from !== to) {
      adjustments.push({ kind, from, to, reason: 'config', gates: null, detail: `configured ${kind} budget is now ${configured[kind] ?? 'unset'}` });
    }
  }
  const clamped = clampToCeilings(next, policy);
  return { state: clamped.state, adjustments: [...adjustments, ...clamped.adjustments] };
}

/**
 * The upstream reported its limits. An unconfigured budget follows them times the safety
 * margin; a configured one is never left above them.
 */
export function adoptReportedLimits(
  state: LimiterState,
  reported: { tokenLimit: number | null; requestLimit: number | null },
  policy: LimiterPolicy,
): { state: LimiterState; adjustments: BudgetAdjustment[] } {
  let next: LimiterState = {
    ...state,
    reportedTokenLimit: reported.tokenLimit ?? state.reportedTokenLimit,
    reportedRequestLimit: reported.requestLimit ?? state.reportedRequestLimit,
  };
  const adjustments: BudgetAdjustment[] = [];
  for (const kind of ['tokens', 'requests'] as const) {
    const limit = kind === 'tokens' ? next.reportedTokenLimit : next.reportedRequestLimit;
    const configured = kind === 'tokens' ? policy.tokenBudget : policy.requestBudget;
    const budget = budgetOf(next, kind);
    if (limit === null || configured !== null || budget !== null) continue;
    const to = Math.floor(limit * policy.safetyMargin);
    adjustments.push({ kind, from: null, to, reason: 'reported-limit', gates: null, detail: `upstream reports ${limit}; ×${policy.safetyMargin} safety margin` });
    next = withBudget(next, kind, to);
  }
  const clamped = clampToCeilings(next, policy);
  return { state: clamped.state, adjustments: [...adjustments, ...clamped.adjustments] };
}

function clampToCeilings(state: LimiterState, policy: LimiterPolicy): { state: LimiterState; adjustments: BudgetAdjustment[] } {
  let next = state;
  const adjustments: BudgetAdjustment[] = [];
  for (const kind of ['tokens', 'requests'] as const) {
    const budget = budgetOf(next, kind);
    const ceiling = budgetCeiling(next, kind, policy);
    if (budget === null || ceiling === null || budget <= ceiling) continue;
    adjustments.push({ kind, from: budget, to: ceiling, reason: 'ceiling', gates: null, detail: `above the ceiling ${ceiling}` });
    next = withBudget(next, kind, ceiling);
  }
  return { state: next, adjustments };
}
