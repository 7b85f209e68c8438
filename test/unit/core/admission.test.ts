import { describe, expect, it } from 'vitest';
import { decideAdmission, type AdmissionDecision } from '../../../src/core/admission.js';
import { afterSettle } from '../../../src/core/settlement.js';
import type { LimiterState, TokenEstimate } from '../../../src/core/types.js';
import { sumWindow } from '../../../src/core/window.js';
import { BucketLedger, policyWith, stateWith } from '../../helpers/limiterFixtures.js';

const now = 1_700_000_000_000;
const small: TokenEstimate = { inputTokens: 30, outputTokens: 70 };

function rejection(decision: AdmissionDecision): Extract<AdmissionDecision, { kind: 'reject' }> {
  if (decision.kind !== 'reject') throw new Error(`expected a rejection, got ${JSON.stringify(decision)}`);
  return decision;
}

describe('admission with no cooldown', () => {
  const policy = policyWith();

  it('admits under budget, reserving the estimate in the configured metric', () => {
    const state = stateWith({ tokenBudget: 1_000, requestBudget: 10 });
    expect(decideAdmission(state, [], small, now, policy)).toEqual({ kind: 'admit', probe: false, reservedTokens: 100 });
    expect(decideAdmission(state, [], small, now, policyWith({ tokenMetric: 'output' }))).toMatchObject({
      kind: 'admit',
      reservedTokens: 70,
    });
    expect(decideAdmission(state, [], small, now, policyWith({ tokenMetric: 'input' }))).toMatchObject({
      kind: 'admit',
      reservedTokens: 30,
    });
  });

  it('admits anything when no budget is set', () => {
    const ledger = new BucketLedger(policy.windowMs);
    ledger.record(now - 1_000, 10_000_000, 10_000_000, 100_000);
    expect(decideAdmission(stateWith(), ledger.inWindow(now), small, now, policy).kind).toBe('admit');
  });

  it('admits a request that fills the budget exactly, and rejects one token more', () => {
    const ledger = new BucketLedger(policy.windowMs);
    ledger.record(now - 1_000, 400, 500);
    const state = stateWith({ tokenBudget: 1_000 });
    expect(decideAdmission(state, ledger.inWindow(now), small, now, policy).kind).toBe('admit');
    const over = decideAdmission(state, ledger.inWindow(now), { inputTokens: 31, outputTokens: 70 }, now, policy);
    expect(rejection(over).reason).toBe('budget');
  });

  it('rejects over the token budget with the time until enough usage ages out', () => {
    const ledger = new BucketLedger(policy.windowMs);
    ledger.record(now - 40_000, 300, 300);
    ledger.record(now - 20_000, 200, 100);
    const state = stateWith({ tokenBudget: 1_000 });
    const decision = rejection(decideAdmission(state, ledger.inWindow(now), { inputTokens: 100, outputTokens: 100 }, now, policy));
    expect(decision.reason).toBe('budget');
    expect(decision.message).toMatch(/token budget: 900 used \+ 200 requested > 1000/);
    const retryAt = now + decision.retryAfterMs;
    expect(decideAdmission(state, ledger.inWindow(retryAt - 1), { inputTokens: 100, outputTokens: 100 }, retryAt - 1, policy).kind).toBe(
      'reject',
    );
    expect(decideAdmission(state, ledger.inWindow(retryAt), { inputTokens: 100, outputTokens: 100 }, retryAt, policy).kind).toBe('admit');
    // The older bucket leaving is enough: the retry does not wait for the newer one.
    expect(decision.retryAfterMs).toBeLessThanOrEqual(20_000 + ledger.widthMs);
  });

  it('counts only the configured metric against the token budget', () => {
    const ledger = new BucketLedger(policy.windowMs);
    ledger.record(now - 1_000, 5_000, 900);
    const state = stateWith({ tokenBudget: 1_000 });
    expect(decideAdmission(state, ledger.inWindow(now), small, now, policyWith({ tokenMetric: 'output' })).kind).toBe('admit');
    expect(decideAdmission(state, ledger.inWindow(now), small, now, policyWith({ tokenMetric: 'input' })).kind).toBe('reject');
  });

  it('admits a request larger than the whole budget into an empty window', () => {
    const state = stateWith({ tokenBudget: 1_000 });
    const huge = { inputTokens: 5_000, outputTokens: 5_000 };
    expect(decideAdmission(state, [], huge, now, policy)).toEqual({ kind: 'admit', probe: false, reservedTokens: 10_000 });
  });

  it('makes an oversized request wait until the window is empty', () => {
    const ledger = new BucketLedger(policy.windowMs);
    ledger.record(now - 50_000, 10, 0);
    ledger.record(now - 5_000, 10, 0);
    const state = stateWith({ tokenBudget: 1_000 });
    const huge = { inputTokens: 5_000, outputTokens: 0 };
    const decision = rejection(decideAdmission(state, ledger.inWindow(now), huge, now, policy));
    expect(decision.reason).toBe('budget');
    const retryAt = now + decision.retryAfterMs;
    expect(sumWindow(ledger.inWindow(retryAt), 'total').tokens).toBe(0);
    expect(sumWindow(ledger.inWindow(retryAt - 1), 'total').tokens).toBeGreaterThan(0);
    expect(decideAdmission(state, ledger.inWindow(retryAt), huge, retryAt, policy).kind).toBe('admit');
  });

  it('rejects over the request budget with the time until a request ages out', () => {
    const ledger = new BucketLedger(policy.windowMs);
    ledger.record(now - 30_000, 0, 0, 2);
    ledger.record(now - 10_000, 0, 0, 1);
    const state = stateWith({ requestBudget: 3 });
    const decision = rejection(decideAdmission(state, ledger.inWindow(now), small, now, policy));
    expect(decision.reason).toBe('budget');
    expect(decision.message).toMatch(/request budget: 3 of 3/);
    const retryAt = now + decision.retryAfterMs;
    expect(decideAdmission(state, ledger.inWindow(retryAt - 1), small, retryAt - 1, policy).kind).toBe('reject');
    expect(decideAdmission(state, ledger.inWindow(retryAt), small, retryAt, policy).kind).toBe('admit');
  });

  it('applies both budgets: either one full rejects', () => {
    const ledger = new BucketLedger(policy.windowMs);
    ledger.record(now - 1_000, 10, 10, 2);
    expect(decideAdmission(stateWith({ tokenBudget: 1_000_000, requestBudget: 2 }), ledger.inWindow(now), small, now, policy).kind).toBe(
      'reject',
    );
    expect(decideAdmission(stateWith({ tokenBudget: 100, requestBudget: 100 }), ledger.inWindow(now), small, now, policy).kind).toBe(
      'reject',
    );
    expect(decideAdmission(stateWith({ tokenBudget: 120, requestBudget: 3 }), ledger.inWindow(now), small, now, policy).kind).toBe('admit');
  });
});

describe('admission around a cooldown', () => {
  const policy = policyWith({ probeTimeoutMs: 60_000 });
  const cooling = stateWith({
    consecutive429s: 1,
    backoffLevel: 1,
    cooldownStartedAt: now - 10_000,
    cooldownUntil: now + 20_000,
    last429At: now - 10_000,
  });

  it('rejects during the cooldown with reason cooldown and the time left', () => {
    const decision = rejection(decideAdmission(cooling, [], small, now, policy));
    expect(decision.reason).toBe('cooldown');
    expect(decision.retryAfterMs).toBe(20_000);
    expect(decision.message).toMatch(/20 s more/);
    expect(rejection(decideAdmission(cooling, [], small, now + 19_999, policy)).retryAfterMs).toBe(1);
  });

  it('rejects for cooldown even when budget and window would allow the request', () => {
    const state = { ...cooling, tokenBudget: 1_000_000 };
    expect(rejection(decideAdmission(state, [], small, now, policy)).reason).toBe('cooldown');
  });

  // Issue 19 replaced the fixed `retry-after: 1` (reason cooldown) with reason probe, which the
  // queue waits out, and the real bound of that wait: until the probe timeout lets another go.
  it('admits exactly one probe when the cooldown ends, then holds the others (reason probe) until it is judged', () => {
    const end = cooling.cooldownUntil as number;
    const first = decideAdmission(cooling, [], small, end, policy);
    expect(first).toEqual({ kind: 'admit', probe: true, reservedTokens: 100 });

    // What the warden writes when it admits the probe.
    const probing: LimiterState = { ...cooling, probeRequestId: 41, probeStartedAt: end };
    for (const later of [end, end + 1, end + 30_000, end + 59_999]) {
      const other = rejection(decideAdmission(probing, [], small, later, policy));
      expect(other.reason).toBe('probe');
      expect(other.retryAfterMs).toBe(end + policy.probeTimeoutMs - later);
    }

    const settled = afterSettle(probing, { id: 41, admittedAt: end, probe: true, estimate: small }, 'ok', 200, end);
    expect(decideAdmission(settled, [], small, end + 2_000, policy)).toEqual({ kind: 'admit', probe: false, reservedTokens: 100 });
  });

  it('lets another probe go once the probe timeout has passed without a settle', () => {
    const end = cooling.cooldownUntil as number;
    const probing: LimiterState = { ...cooling, probeRequestId: 41, probeStartedAt: end };
    expect(decideAdmission(probing, [], small, end + policy.probeTimeoutMs - 1, policy).kind).toBe('reject');
    expect(decideAdmission(probing, [], small, end + policy.probeTimeoutMs, policy)).toMatchObject({ kind: 'admit', probe: true });
  });

  it('still applies the budget to the probe', () => {
    const end = cooling.cooldownUntil as number;
    const ledger = new BucketLedger(policy.windowMs);
    ledger.record(end - 1_000, 1_000, 0);
    const decision = rejection(decideAdmission({ ...cooling, tokenBudget: 1_000 }, ledger.inWindow(end), small, end, policy));
    expect(decision.reason).toBe('budget');
  });
});
