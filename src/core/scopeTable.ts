import { cooldownPhase } from './cooldown.js';
import type { QueueState } from './queueState.js';
import { scopeLabel } from './scopeLabel.js';
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
  /** The scope as a person reads it (model family, key fingerprint's start; an alias where one is set). */
  label: string;
  /** What holds its traffic, the worst first: `cooling` and `quota-exhausted` refuse it, `half-open` holds it, `queued` makes it wait; null: nothing. */
  trouble: 'cooling' | 'quota-exhausted' | 'half-open' | 'queued' | null;
  /** Requests waiting in the proxies' queues for this scope, and the longest wait, at their last heartbeats. */
  queued: number;
  oldestWaitMs: number;
  phase: 'closed' | 'cooling' | 'half-open';
  /** The upstream said the quota or spend limit ran out: shown as quota-exhausted, not as a rate-limit cooldown. */
  quotaExhausted: boolean;
  cooldownRemainingMs: number;
  backoffLevel: number;
  consecutive429s: number;
  windowTokens: number;
  windowRequests: number;
  /** The window's input and output tokens apart, whatever `tokenMetric` counts. */
  windowInputTokens: number;
  windowOutputTokens: number;
  tokenBudget: number | null;
  requestBudget: number | null;
  reportedTokensRemaining: number | null;
  reportedRequestsRemaining: number | null;
  refusals: { cooldown: number; budget: number };
  updatedAt: number;
}

const troubleRank: Record<NonNullable<ScopeLine['trouble']> | 'none', number> = {
  cooling: 0,
  'quota-exhausted': 1,
  'half-open': 2,
  queued: 3,
  none: 4,
};

/**
 * The scope table, trouble first: what refuses traffic (cooling), holds it (half-open: one probe
 * out), or makes it wait (queued); within each, the busiest first (window tokens, then requests).
 */
export function scopeLines(
  rows: readonly ScopeSummaryRow[],
  now: number,
  policy: Pick<LimiterPolicy, 'probeTimeoutMs' | 'unsafeNoCooldown'> & { tokenMetric: TokenMetric },
  queue: QueueState | null = null,
): ScopeLine[] {
  const waiting = new Map((queue?.scopes ?? []).map((entry) => [entry.scope, entry]));
  const lines = rows.map((row): ScopeLine => {
    const phase = cooldownPhase(
      {
        cooldownUntil: row.cooldownUntil,
        cooldownStartedAt: row.cooldownStartedAt,
        probeRequestId: row.probeRequestId,
        probeStartedAt: row.probeStartedAt,
      },
      now,
      policy,
    );
    const queued = waiting.get(row.scope);
    const quotaExhausted = row.quotaSince !== null && row.quotaSince !== undefined;
    const trouble = quotaExhausted
      ? 'quota-exhausted'
      : phase.phase !== 'closed'
        ? phase.phase
        : queued !== undefined && queued.length > 0
          ? 'queued'
          : null;
    return {
      scope: row.scope,
      label: scopeLabel(row.scope),
      trouble,
      queued: queued?.length ?? 0,
      oldestWaitMs: queued?.oldestWaitMs ?? 0,
      phase: phase.phase,
      quotaExhausted,
      cooldownRemainingMs: phase.phase === 'cooling' ? phase.remainingMs : 0,
      backoffLevel: row.backoffLevel,
      consecutive429s: row.consecutive429s,
      windowTokens: tokensOf(row, policy.tokenMetric),
      windowRequests: row.requests,
      windowInputTokens: row.inputTokens,
      windowOutputTokens: row.outputTokens,
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
      troubleRank[a.trouble ?? 'none'] - troubleRank[b.trouble ?? 'none'] ||
      b.windowTokens - a.windowTokens ||
      b.windowRequests - a.windowRequests ||
      Number(b.phase !== 'closed') - Number(a.phase !== 'closed') ||
      b.updatedAt - a.updatedAt ||
      a.scope.localeCompare(b.scope),
  );
}
