import { formatDuration } from '../kernel/durations.js';
import { changeKindOf, type BudgetEvent } from '../warden/budgetEvents.js';

export interface BudgetLogLine {
  event: 'budget-cut' | 'budget-recovered' | 'budget-change';
  message: string;
  fields: Record<string, string | number | null>;
}

const levelText = (value: number | null): string => (value === null ? 'none' : String(value));

/** One budget change this process made, as one log line: which budget, before → after, and why. */
export function budgetLogLine(change: BudgetEvent, windowMs: number): BudgetLogLine {
  const { adjustment, scope } = change;
  const kind = changeKindOf(adjustment);
  const event = kind === 'cut' ? 'budget-cut' : kind === 'recover' ? 'budget-recovered' : 'budget-change';
  const what = kind === 'cut' ? 'cut' : kind === 'recover' ? 'recovered' : `changed (${adjustment.reason})`;
  return {
    event,
    message: `${adjustment.kind} budget of scope ${scope} ${what}: ${levelText(adjustment.from)} → ${levelText(adjustment.to)} per ${formatDuration(windowMs)} window; ${adjustment.detail}`,
    fields: { scope, budget: adjustment.kind, from: adjustment.from, to: adjustment.to, reason: adjustment.reason },
  };
}
