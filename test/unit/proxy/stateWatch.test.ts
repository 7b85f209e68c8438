import { describe, expect, it } from 'vitest';
import { stateEvents, viewOf } from '../../../src/proxy/stateWatch.js';
import { policyWith, stateWith } from '../../helpers/limiterFixtures.js';

const policy = policyWith();
const now = 1_700_000_000_000;

describe('state changes worth a log line', () => {
  it('sees a cooldown run out, and the breaker close', () => {
    const cooling = viewOf(stateWith({ cooldownUntil: now + 1_000 }), now, policy);
    const halfOpen = viewOf(stateWith({ cooldownUntil: now + 1_000 }), now + 2_000, policy);
    const closed = viewOf(stateWith(), now + 3_000, policy);
    expect(stateEvents(cooling, halfOpen).map((event) => event.event)).toEqual(['cooldown-end']);
    expect(stateEvents(halfOpen, closed).map((event) => event.event)).toEqual(['breaker-closed']);
    expect(stateEvents(cooling, closed).map((event) => event.event)).toEqual(['breaker-closed']);
  });

  it('reports nothing when nothing changed, and leaves budget changes to the process that made them (budgetLog)', () => {
    const before = viewOf(stateWith({ tokenBudget: null, requestBudget: 50 }), now, policy);
    const after = viewOf(stateWith({ tokenBudget: 36_000, requestBudget: 35 }), now, policy);
    expect(stateEvents(before, after)).toEqual([]);
    expect(stateEvents(after, after)).toEqual([]);
  });
});
