import type { BudgetAdjustment } from './controller.js';
import type { LimiterPolicy, LimiterState, WindowUsage } from './types.js';

/**
 * UNSAFE: the seed's controller, kept only so that the demo's amnesia run replays the seed
 * faithfully (`--unsafe-seed-raise`). It raises each budget by `raiseStep`, one step a window,
 * whenever the window used anything (`tokensUsedInWindow > 0`) and no 429 is in a row
 * (`consecutive429s === 0`): no history, consumption share, quiet period or ceiling. Right
 * after a restart, the first request is enough; nothing stops it above the upstream's limit.
 */
export function seedRaise(
  state: LimiterState,
  usage: WindowUsage,
  now: number,
  policy: LimiterPolicy,
): { state: LimiterState; adjustments: BudgetAdjustment[] } {
  const paced = state.lastRaiseAt === null || now - state.lastRaiseAt >= policy.windowMs;
  if (!paced || usage.tokens <= 0 || state.consecutive429s !== 0) return { state, adjustments: [] };
  let next = state;
  const adjustments: BudgetAdjustment[] = [];
  for (const kind of ['tokens', 'requests'] as const) {
    const budget = kind === 'tokens' ? next.tokenBudget : next.requestBudget;
    if (budget === null) continue;
    const raised = Math.max(budget + 1, Math.ceil(budget * (1 + policy.raiseStep)));
    adjustments.push({
      kind,
      from: budget,
      to: raised,
      reason: 'raise',
      gates: null,
      detail: `unsafe seed rule: ${usage.tokens} tokens used, no 429 in a row; no ceiling`,
    });
    next = kind === 'tokens' ? { ...next, tokenBudget: raised } : { ...next, requestBudget: raised };
  }
  return { state: adjustments.length > 0 ? { ...next, lastRaiseAt: now } : next, adjustments };
}
