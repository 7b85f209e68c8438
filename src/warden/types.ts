import type { RejectReason } from '../core/admission.js';
import type { TokenEstimate, WindowUsage } from '../core/types.js';

export type Admission =
  | { kind: 'admitted'; requestId: number; probe: boolean; reservedTokens: number }
  | {
      kind: 'rejected';
      reason: RejectReason;
      retryAfterMs: number;
      message: string;
      /** What the refusal's headers show, when the read that decided it had it; otherwise the answer reads it (WardenViews.refusalView). */
      shown?: RefusalShown;
    };

/** What a local refusal's headers show of its scope: the budgets, and for a budget refusal the window's usage. */
export interface RefusalShown {
  tokenBudget: number | null;
  requestBudget: number | null;
  usage: WindowUsage | null;
}

/** A local refusal: answered 429 (or the quota's error) without forwarding. */
export type Refusal = Extract<Admission, { kind: 'rejected' }>;

export interface AdmitInput {
  method: string;
  /** Path without the query string: queries may carry secrets. */
  path: string;
  /** The reservation on the local window budget: the input the upstream will count, and the learned output. */
  estimate: TokenEstimate;
  /**
   * The output charged against the limits the upstream reports, by its own rule
   * (core/chargeRules.ts: Anthropic's `max_tokens`); the estimate's when absent.
   */
  reportedOutput?: number;
  /** The model the request names, whose settled output teaches its reservation. */
  model?: string | null;
  /** The scope (core/scopes.ts) whose limits the request counts against; `default` when unset. */
  scope?: string;
  /** The key's own scope when the request counts in its organization's group (core/limitGroups.ts): its own reports and cooldowns hold too. */
  keyScope?: string | null;
  /** Who asked (core/queueOrder.ts): the fair queue serves sessions in turn, interactive before batch. */
  session?: string;
  priority?: 'interactive' | 'batch';
}

/** Limits the upstream reported in its headers, already mapped to the configured token metric. */
export interface ReportedLimitsForBudget {
  tokenLimit: number | null;
  requestLimit: number | null;
}
