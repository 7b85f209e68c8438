import type { BudgetAdjustment } from '../core/controller.js';
import type { Report } from '../core/reported.js';
import type { SettleRule } from '../core/chargeRules.js';
import type { ClearedCooldown, SettleOutcome } from '../core/settlement.js';
import type { TokenEstimate } from '../core/types.js';
import type { ReportedLimitsForBudget } from './types.js';

export interface SettleInput {
  outcome: SettleOutcome;
  status: number | null;
  usage: TokenEstimate | null;
  reported?: ReportedLimitsForBudget | null;
  /** No answer came, but the request may have reached the upstream (and been served): its reservation counts as spent. */
  reachedUpstream?: boolean;
  /** What the answer's headers say is left of each limit. */
  reports?: readonly Report[];
  /** This host's clock when the reports' resets were computed (they are re-based onto the store's time); now when absent. */
  reportsReadAt?: number;
  /** What the upstream does with the unused charge of a request it answered (core/chargeRules.ts); refund when absent. */
  reportedSettle?: SettleRule;
}

/** A response head arrived (not a 429: that is upstream429's): its reports, stamped now, and its status. */
export interface HeadInput {
  status: number;
  reported?: ReportedLimitsForBudget | null;
  reports?: readonly Report[];
  /** As SettleInput's. */
  reportsReadAt?: number;
}

export interface Upstream429Input {
  retryAfterMs: number | null;
  reported?: ReportedLimitsForBudget | null;
  /** What the 429's headers say is left: which limit ran out, and so which budget is cut. */
  reports?: readonly Report[];
  /** As SettleInput's. */
  reportsReadAt?: number;
  /** The upstream's words when the 429 says the quota or spend limit ran out (core/quota.ts): not a rate limit. */
  quota?: string | null;
}

export interface Upstream429Result {
  scope: string;
  /** The other scopes of the same key that the 429 cooled too: its headers said the limit hit is shared. */
  sharedWith: string[];
  /** The scope the cooldown covers: the request's group, or the key's own scope when its own (workspace) limit ran out. */
  cooled: string;
  /** A quota 429: the group stopped until a probe every --quota-probe-interval is served. */
  quota: boolean;
  escalated: boolean;
  cooldownMs: number;
  cooldownUntil: number;
  consecutive429s: number;
  adjustments: BudgetAdjustment[];
}

/** What reset-cooldown cleared in one scope. */
export type ScopeCleared = ClearedCooldown['cleared'] & { scope: string; anything: boolean; cutsCleared: BudgetAdjustment[] };

export interface TickResult {
  adjustments: BudgetAdjustment[];
  /** The same, with the scope each was made in. */
  changes: { scope: string; adjustments: BudgetAdjustment[] }[];
  prunedRequests: number;
  windowSampleRecorded: boolean;
}
