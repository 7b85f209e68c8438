import { describe, expect, it } from 'vitest';
import { decideAdmission } from '../../../src/core/admission.js';
import { cooldownPhase } from '../../../src/core/cooldown.js';
import { considerRaise } from '../../../src/core/controller.js';
import { seedRaise } from '../../../src/core/seedRaise.js';
import { afterSettle } from '../../../src/core/settlement.js';
import { defaultLimiterPolicy, initialLimiterState, type LimiterState } from '../../../src/core/types.js';

const now = 10_000_000;
const cooling: LimiterState = {
  ...initialLimiterState,
  consecutive429s: 1,
  backoffLevel: 1,
  cooldownStartedAt: now - 1_000,
  cooldownUntil: now + 29_000,
  tokenBudget: 10_000,
  last429At: now - 1_000,
};
const estimate = { inputTokens: 100, outputTokens: 100 };

describe('--unsafe-no-cooldown (the seed had no breaker)', () => {
  it('off: a cooldown answers locally; on: the same state admits, and no request becomes a probe', () => {
    expect(decideAdmission(cooling, [], estimate, now, defaultLimiterPolicy)).toMatchObject({ kind: 'reject', reason: 'cooldown' });
    const unsafe = { ...defaultLimiterPolicy, unsafeNoCooldown: true };
    expect(cooldownPhase(cooling, now, unsafe)).toEqual({ phase: 'closed' });
    expect(decideAdmission(cooling, [], estimate, now, unsafe)).toEqual({ kind: 'admit', probe: false, reservedTokens: 200 });
    const afterCooldown = { ...cooling, cooldownUntil: now - 1 };
    expect(decideAdmission(afterCooldown, [], estimate, now, unsafe)).toMatchObject({ kind: 'admit', probe: false });
  });

  it('on: any success ends the streak of 429s, as the seed counted them; off: a success inside a cooldown does not', () => {
    const request = { id: 7, admittedAt: now, probe: false, estimate };
    expect(afterSettle(cooling, request, 'ok', 200, 0).consecutive429s).toBe(1);
    expect(afterSettle(cooling, request, 'ok', 200, 0, { unsafeNoCooldown: true })).toMatchObject({
      consecutive429s: 0,
      cooldownUntil: null,
    });
  });
});

describe('--unsafe-seed-raise (the seed raised on usage > 0 and no 429 in a row, with no ceiling)', () => {
  const fresh: LimiterState = { ...initialLimiterState, tokenBudget: 21_600, reportedTokenLimit: 24_000, firstRequestAt: now };
  const usage = { tokens: 1, requests: 1 };

  it('raises right after a fresh start, where the safe controller raises nothing', () => {
    expect(considerRaise(fresh, usage, now, defaultLimiterPolicy).adjustments).toEqual([]);
    const raised = seedRaise(fresh, usage, now, defaultLimiterPolicy);
    expect(raised.state.tokenBudget).toBe(22_680);
    expect(raised.adjustments).toMatchObject([{ kind: 'tokens', from: 21_600, to: 22_680, reason: 'raise' }]);
  });

  it('climbs past the reported limit, one step a window', () => {
    let state = fresh;
    for (let window = 0; window < 5; window++)
      state = seedRaise(state, usage, now + window * defaultLimiterPolicy.windowMs, defaultLimiterPolicy).state;
    expect(state.tokenBudget).toBeGreaterThan(24_000);
    expect(seedRaise(state, usage, now + 4 * defaultLimiterPolicy.windowMs + 1, defaultLimiterPolicy).adjustments).toEqual([]);
  });

  it('does not raise with a 429 in a row or an unused window', () => {
    expect(seedRaise({ ...fresh, consecutive429s: 1 }, usage, now, defaultLimiterPolicy).adjustments).toEqual([]);
    expect(seedRaise(fresh, { tokens: 0, requests: 0 }, now, defaultLimiterPolicy).adjustments).toEqual([]);
  });
});
