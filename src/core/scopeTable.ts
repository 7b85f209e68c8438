import { cooldownPhase } from './cooldown.js';
import type { LimiterPolicy, TokenMetric } from './types.js';
import { tokensOf } from './window.js';

/** One scope as the store sums it for `status` at a glance. */
export interface ScopeSummaryRow {
  scope: string;
  cooldownUntil: number | null;
  cooldownStartedAt: number | null;
  probeRequestId: number | null;
  probeStartedAt: number | null;
  backoffLevel: number;
  consecutive429s: number;
  tokenBudget: number | null;
  requestBudget: number | null;
  reportedTokensRemaining: number | null;
  reportedRequestsRemaining: number | null;
  inputTokens: number;
  outputTokens: number;
  requests: number;
  refusedCooldown: number;
  refusedBudget: number;
  updatedAt: number;
  /** When a quota stop began (core/quota.ts); null or absent while none is in force. */
  quotaSince?: number | null;
}

/** A line of the scope table in `status` (and `status --json`'s `scopes`). */
export interface ScopeLine {
  scope: string;
  /** The scope as people read it (scopeNames.ts): a key's alias instead of its fingerprint. */
  name?: string;
  phase: 'closed' | 'cooling' | 'half-open';
  /** The upstream said the quota or spend limit ran out: shown as quota-exhausted, not as a rate-limit cooldown. */
  quotaExhausted: boolean;
  cooldownRemainingMs: number;
  backoffLevel: number;
  consecutive429s: number;
  windowTokens: number;
  windowRequests: number;
  tokenBudget: number | null;
  requestBudget: number | null;
  reportedTokensRemaining: number | null;
  reportedRequestsRemaining: number | null;
  refusals: { cooldown: number; budget: number };
  updatedAt: number;
}

/** The scope table: the busiest first (window tokens, then requests), a cooling scope before an idle one. */
export function scopeLines(rows: readonly ScopeSummaryRow[], now: number, policy: Pick<LimiterPolicy, 'probeTimeoutMs' | 'unsafeNoCooldown'> & { tokenMetric: TokenMetric }): ScopeLine[] {
  const lines = rows.map((row): ScopeLine => {
    const phase = cooldownPhase(
      { cooldownUntil: row.cooldownUntil, cooldownStartedAt: row.cooldownStartedAt, probeRequestId: row.probeRequestId, probeStartedAt: row.probeStartedAt },
      now,
      policy,
    );
    return {
      scope: row.scope,
      phase: phase.phase,
      quotaExhausted: row.quotaSince !== null && row.quotaSince !== undefined,
      cooldownRemainingMs: phase.phase === 'cooling' ? phase.remainingMs : 0,
      backoffLevel: row.backoffLevel,
      consecutive429s: row.consecutive429s,
      windowTokens: tokensOf(row, policy.tokenMetric),
      windowRequests: row.requests,
      tokenBudget: row.tokenBudget,
      requestBudget: row.requestBudget,
      reportedTokensRemaining: row.reportedTokensRemaining,
      reportedRequestsRemaining: row.reportedRequestsRemaining,
      refusals: { cooldown: row.refusedCooldown, budget: row.refusedBudget },
      updatedAt: row.updatedAt,
    };
  });
  return lines.sort(
    (a, b) =>
      b.windowTokens - a.windowTokens ||
      b.windowRequests - a.windowRequests ||
      Number(b.phase !== 'closed') - Number(a.phase !== 'closed') ||
      b.updatedAt - a.updatedAt ||
      a.scope.localeCompare(b.scope),
  );
}
