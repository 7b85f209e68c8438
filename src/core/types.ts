/** Which token count a budget limits. */
export type TokenMetric = 'input' | 'output' | 'total';

/** Tokens and requests counted in one time bucket of the sliding window. */
export interface UsageBucket {
  /** Bucket start, ms since the epoch. */
  start: number;
  inputTokens: number;
  outputTokens: number;
  requests: number;
}

export interface WindowUsage {
  tokens: number;
  requests: number;
}

export interface TokenEstimate {
  inputTokens: number;
  outputTokens: number;
}

/** The durable limiter state of one scope: its row of `limiter_state`. Times are ms since the epoch. */
export interface LimiterState {
  consecutive429s: number;
  backoffLevel: number;
  cooldownStartedAt: number | null;
  cooldownUntil: number | null;
  probeRequestId: number | null;
  probeStartedAt: number | null;
  tokenBudget: number | null;
  requestBudget: number | null;
  /** The budgets the configuration asked for when they were last adopted. */
  configuredTokenBudget: number | null;
  configuredRequestBudget: number | null;
  reportedTokenLimit: number | null;
  reportedRequestLimit: number | null;
  last429At: number | null;
  /** Start of the current stretch of traffic (see trafficSince): what the history gate measures. */
  firstRequestAt: number | null;
  lastRaiseAt: number | null;
  lastWindowSampleAt: number | null;
  /** When a half-open probe last succeeded: recovery to the known-good level counts from it. */
  lastProbeSuccessAt: number | null;
  /** When the upstream said the quota or spend limit ran out (core/quota.ts); null while none is in force. */
  quotaSince: number | null;
}

export const initialLimiterState: LimiterState = {
  consecutive429s: 0,
  backoffLevel: 0,
  cooldownStartedAt: null,
  cooldownUntil: null,
  probeRequestId: null,
  probeStartedAt: null,
  tokenBudget: null,
  requestBudget: null,
  configuredTokenBudget: null,
  configuredRequestBudget: null,
  reportedTokenLimit: null,
  reportedRequestLimit: null,
  last429At: null,
  firstRequestAt: null,
  lastRaiseAt: null,
  lastWindowSampleAt: null,
  lastProbeSuccessAt: null,
  quotaSince: null,
};

/** Every tunable of the limiter's decisions; durations in ms. */
export interface LimiterPolicy {
  windowMs: number;
  tokenMetric: TokenMetric;
  /** Budgets the operator configured; null means "follow the upstream's reported limit". */
  tokenBudget: number | null;
  requestBudget: number | null;
  /** Hard ceilings the controller never raises above; null means none configured. */
  tokenBudgetMax: number | null;
  requestBudgetMax: number | null;
  /** Budgets over a rolling day (24 hourly rows) next to the window's; null: none. */
  dailyTokenBudget: number | null;
  dailyRequestBudget: number | null;
  safetyMargin: number;
  /** The period the upstream's reported limits are per (Anthropic and OpenAI: a minute); they are scaled from it to `windowMs`. */
  limitPeriodMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Fraction of the cooldown added at random (0 = off); it only ever lengthens. */
  backoffJitter: number;
  probeTimeoutMs: number;
  /** How long a quota stop (core/quota.ts) lasts before its next probe. */
  quotaProbeMs: number;
  minHistoryMs: number;
  minConsumption: number;
  quietPeriodMs: number;
  raiseStep: number;
  cutFactor: number;
  /** How long settled request rows are kept. */
  retentionMs: number;
  /**
   * UNSAFE, off unless set: keep calibration samples with zero tokens, which drag every
   * estimate towards zero. Exists only so that `ratewarden demo` can replay the seed's setup.
   */
  unsafeRecordZeroTokenSamples?: boolean;
  /**
   * UNSAFE, off unless set (the seed's proxy, for the demo's amnesia run): a cooldown is still
   * computed and recorded, but admission ignores it: no local 429, no half-open probe, and any
   * success ends the streak of 429s.
   */
  unsafeNoCooldown?: boolean;
  /**
   * UNSAFE, off unless set (the seed's controller): the budget rises one step a window whenever
   * the window used anything and no 429 is in a row: no history, quiet or ceiling gate.
   */
  unsafeSeedRaise?: boolean;
  /**
   * UNSAFE, off unless set (the seed counted only its own traffic): admission ignores what the
   * upstream reported is left, so a second tenant or a restart's forgotten spend goes unseen.
   */
  unsafeIgnoreReportedRemaining?: boolean;
}

export const defaultLimiterPolicy: LimiterPolicy = {
  windowMs: 60_000,
  tokenMetric: 'total',
  tokenBudget: null,
  requestBudget: null,
  tokenBudgetMax: null,
  requestBudgetMax: null,
  dailyTokenBudget: null,
  dailyRequestBudget: null,
  safetyMargin: 0.97,
  limitPeriodMs: 60_000,
  backoffBaseMs: 30_000,
  backoffMaxMs: 300_000,
  backoffJitter: 0,
  probeTimeoutMs: 60_000,
  quotaProbeMs: 60_000,
  minHistoryMs: 3_600_000,
  minConsumption: 0.05,
  quietPeriodMs: 900_000,
  raiseStep: 0.05,
  cutFactor: 0.7,
  retentionMs: 86_400_000,
};
