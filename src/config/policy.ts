import type { LimiterPolicy } from '../core/types.js';
import type { RestartPolicy } from '../core/restartPolicy.js';
import type { Settings } from './schema.js';

export function limiterPolicyFrom(settings: Settings): LimiterPolicy {
  return {
    windowMs: settings.window,
    tokenMetric: settings.tokenMetric,
    tokenBudget: settings.tokenBudget,
    requestBudget: settings.requestBudget,
    tokenBudgetMax: settings.tokenBudgetMax,
    requestBudgetMax: settings.requestBudgetMax,
    dailyTokenBudget: settings.dailyTokenBudget,
    dailyRequestBudget: settings.dailyRequestBudget,
    safetyMargin: settings.safetyMargin,
    limitPeriodMs: settings.limitPeriod,
    backoffBaseMs: settings.backoffBase,
    backoffMaxMs: settings.backoffMax,
    backoffJitter: settings.backoffJitter,
    probeTimeoutMs: settings.probeTimeout,
    quotaProbeMs: settings.quotaProbeInterval,
    minHistoryMs: settings.minHistory,
    minConsumption: settings.minConsumption,
    quietPeriodMs: settings.quietPeriod,
    raiseStep: settings.raiseStep,
    cutFactor: settings.cutFactor,
    retentionMs: settings.retention,
    unsafeRecordZeroTokenSamples: settings.unsafeRecordZeroSamples,
    unsafeNoCooldown: settings.unsafeNoCooldown,
    unsafeSeedRaise: settings.unsafeSeedRaise,
    unsafeIgnoreReportedRemaining: settings.unsafeIgnoreReportedRemaining,
  };
}

export function restartPolicyFrom(settings: Settings): RestartPolicy {
  return {
    restartSecMs: settings.restartSec,
    restartMaxDelayMs: settings.restartMaxDelay,
    stableAfterMs: settings.stableAfter,
    startLimitBurst: settings.startLimitBurst,
    startLimitIntervalMs: settings.startLimitInterval,
  };
}
