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
    expect(stateEvents(cooling, halfOpen, policy.windowMs).map((event) => event.event)).toEqual(['cooldown-end']);
    expect(stateEvents(halfOpen, closed, policy.windowMs).map((event) => event.event)).toEqual(['breaker-closed']);
    expect(stateEvents(cooling, closed, policy.windowMs).map((event) => event.event)).toEqual(['breaker-closed']);
  });

  it('reports budget changes from any source, and nothing when nothing changed', () => {
    const before = viewOf(stateWith({ tokenBudget: null, requestBudget: 50 }), now, policy);
    const after = viewOf(stateWith({ tokenBudget: 36_000, requestBudget: 35 }), now, policy);
    expect(stateEvents(before, after, 60_000).map((event) => event.message)).toEqual([
      'token budget none → 36000 per 1m window',
      'request budget 50 → 35 per 1m window',
    ]);
    expect(stateEvents(after, after, 60_000)).toEqual([]);
  });
});
