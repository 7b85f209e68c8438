import { Counter, type Registry } from 'prom-client';
import type { BudgetEvents } from '../warden/budgetEvents.js';

/**
 * `ratewarden_budget_changes_total{change,dimension}`: the budget changes this worker made since
 * it started (`cut` at an upstream 429, `recover` back towards known-good, `other`: reported
 * limits, the configuration, raises). Read from the warden's tally at scrape time, so the
 * request path pays nothing for it.
 */
export function registerBudgetChangeCounter(registry: Registry, events: BudgetEvents): void {
  new Counter({
    name: 'ratewarden_budget_changes_total',
    help: 'Budget changes this worker made: cut at an upstream 429, recover towards known-good, other',
    labelNames: ['change', 'dimension'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { change, budget, count } of events.counts()) this.inc({ change, dimension: budget }, count);
    },
  });
}
