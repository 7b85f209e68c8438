import type { LimiterState } from '../core/types.js';

/** `limiter_state`'s column for each field of core's LimiterState: one table, the same on both backends (docs/tables.md). */
export const stateColumns = {
  consecutive429s: 'consecutive_429s',
  backoffLevel: 'backoff_level',
  cooldownStartedAt: 'cooldown_started_at',
  cooldownUntil: 'cooldown_until',
  probeRequestId: 'probe_request_id',
  probeStartedAt: 'probe_started_at',
  tokenBudget: 'token_budget',
  requestBudget: 'request_budget',
  configuredTokenBudget: 'configured_token_budget',
  configuredRequestBudget: 'configured_request_budget',
  reportedTokenLimit: 'reported_token_limit',
  reportedRequestLimit: 'reported_request_limit',
  last429At: 'last_429_at',
  firstRequestAt: 'first_request_at',
  lastRaiseAt: 'last_raise_at',
  lastWindowSampleAt: 'last_window_sample_at',
  lastProbeSuccessAt: 'last_probe_success_at',
  quotaSince: 'quota_since',
} as const satisfies Record<keyof LimiterState, string>;

export const stateKeys = Object.keys(stateColumns) as (keyof LimiterState)[];

/** A row of the state's columns as a driver returns it. */
export type StateRow = { [Key in keyof LimiterState as (typeof stateColumns)[Key]]: LimiterState[Key] };

/** Core's state from a row of the state's columns. */
export function stateOf(row: StateRow): LimiterState {
  const state = {} as Record<keyof LimiterState, number | null>;
  for (const key of stateKeys) state[key] = row[stateColumns[key]] ?? null;
  return state as LimiterState;
}
