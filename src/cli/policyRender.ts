import kleur from 'kleur';
import type { RestartPolicy } from '../core/restartPolicy.js';
import type { PolicyOrigin } from '../core/runningPolicy.js';
import type { LimiterPolicy } from '../core/types.js';
import { ago, count, duration } from './textFormat.js';

/** Whose policy this is, said plainly; a missing one is said in yellow with what stands in for it. */
export function policyOriginText(origin: PolicyOrigin, role: 'worker' | 'supervisor', now: number): string {
  switch (origin.source) {
    case 'running':
      return kleur.dim(`(the running ${role}'s, pid ${origin.pid}, recorded ${ago(origin.writtenAt ?? now, now)})`);
    case 'last-recorded':
      return kleur.dim(`(the last ${role}'s, pid ${origin.pid}, recorded ${ago(origin.writtenAt ?? now, now)}; none runs now)`);
    case 'not-recorded':
      return kleur.yellow(
        `(no running policy recorded: no ${role} has started on this database since ratewarden began recording it; showing this command's own settings)`,
      );
  }
}

export function limiterPolicyText(policy: LimiterPolicy): string {
  const budgets = `budget ${count(policy.tokenBudget)} tokens / ${count(policy.requestBudget)} requests`;
  return [
    `window ${duration(policy.windowMs)}, ${policy.tokenMetric} tokens`,
    budgets,
    `backoff ${duration(policy.backoffBaseMs)}→${duration(policy.backoffMaxMs)}`,
    `probe timeout ${duration(policy.probeTimeoutMs)}`,
    `margin ${policy.safetyMargin}`,
  ].join(' · ');
}

export function restartPolicyText(policy: RestartPolicy): string {
  return [
    `restart ${duration(policy.restartSecMs)}→${duration(policy.restartMaxDelayMs)}`,
    `burst ${policy.startLimitBurst} within ${duration(policy.startLimitIntervalMs)}`,
    `stable after ${duration(policy.stableAfterMs)}`,
  ].join(' · ');
}
