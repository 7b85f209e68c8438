import { describe, expect, it } from 'vitest';
import type { BudgetAdjustment } from '../../../src/core/controller.js';
import { budgetLogLine } from '../../../src/proxy/budgetLog.js';
import { BudgetEvents } from '../../../src/warden/budgetEvents.js';

const cut: BudgetAdjustment = {
  kind: 'tokens',
  from: 1_940_000,
  to: 49,
  reason: 'cut',
  gates: null,
  detail: 'upstream 429 with 70 in the window',
};
const healed: BudgetAdjustment = {
  kind: 'tokens',
  from: 49,
  to: 1_940_000,
  reason: 'recover',
  gates: null,
  detail: 'cut healed: the upstream reports 1999900 of 2000000 tokens left',
};
const adopted: BudgetAdjustment = {
  kind: 'requests',
  from: null,
  to: 4_850,
  reason: 'reported-limit',
  gates: null,
  detail: 'upstream reports 5000',
};

describe('budget changes, logged once and counted', () => {
  it('each change is taken once, oldest first, and counted by kind of change and budget', () => {
    const events = new BudgetEvents();
    events.record('default', 1, [cut]);
    events.record('default', 2, [healed, adopted]);
    expect(events.take().map((event) => event.adjustment.reason)).toEqual(['cut', 'recover', 'reported-limit']);
    expect(events.take()).toEqual([]);
    expect(events.counts()).toEqual(
      expect.arrayContaining([
        { scope: 'default', change: 'cut', budget: 'tokens', count: 1 },
        { scope: 'default', change: 'recover', budget: 'tokens', count: 1 },
        { scope: 'default', change: 'other', budget: 'requests', count: 1 },
      ]),
    );
  });

  it('a line says which budget of which scope, before → after, and why', () => {
    expect(budgetLogLine({ scope: 'k/gpt-4o', at: 1, adjustment: cut }, 60_000)).toEqual({
      event: 'budget-cut',
      message: 'tokens budget of scope k/gpt-4o cut: 1940000 → 49 per 1m window; upstream 429 with 70 in the window',
      fields: { scope: 'k/gpt-4o', budget: 'tokens', from: 1_940_000, to: 49, reason: 'cut' },
    });
    expect(budgetLogLine({ scope: 'k/gpt-4o', at: 2, adjustment: healed }, 60_000)).toMatchObject({
      event: 'budget-recovered',
      message: expect.stringMatching(/recovered: 49 → 1940000 .*cut healed/),
    });
    expect(budgetLogLine({ scope: 'default', at: 3, adjustment: adopted }, 60_000)).toMatchObject({
      event: 'budget-change',
      message: expect.stringMatching(/changed \(reported-limit\): none → 4850/),
    });
  });
});
