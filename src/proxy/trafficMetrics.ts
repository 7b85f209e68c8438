import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { QueueState } from '../core/queueState.js';
import type { BudgetEvents } from '../warden/budgetEvents.js';
import { overflowScope } from './scopeCap.js';
import { maxScopeSeries } from './scopeSeriesCap.js';

/** The label every scope past the series cap is counted under, together. */
export const otherScopes = 'other';
import type { ProviderName } from './providers/types.js';

/** Every provider a request can be counted for: their series exist from the first scrape. */
export const knownProviders: readonly ProviderName[] = ['anthropic', 'openai', 'generic'];

/** Status codes the upstreams are documented to answer, exported at 0 from the start; any other appears when seen. */
const knownUpstreamCodes = ['200', '400', '401', '403', '404', '408', '413', '429', '500', '502', '503', '504', '529'];

/** What became of a request of a scope. `forwarded` counts it when sent; the upstream's answer is counted again by class. */
export const requestOutcomes = [
  'forwarded',
  'local_429_cooldown',
  'local_429_probe',
  'local_429_budget',
  'local_429_quota',
  'upstream_2xx',
  'upstream_4xx',
  'upstream_429',
  'upstream_5xx',
  'upstream_failed',
] as const;
export type RequestOutcome = (typeof requestOutcomes)[number];

const tokenKinds = ['input', 'output'] as const;
const tokenOutcomes = ['answered', 'cut_short'] as const;
const budgetChangeKinds = ['cut', 'recovery'] as const;
const budgetDimensions = ['tokens', 'requests'] as const;
const upstreamClasses = ['2xx', '4xx', '429', '5xx', 'failed'] as const;
type UpstreamClass = (typeof upstreamClasses)[number];

const UPSTREAM_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export function upstreamClassOf(status: number): UpstreamClass {
  if (status === 429) return '429';
  if (status >= 500) return '5xx';
  if (status >= 400) return '4xx';
  return '2xx';
}

/**
 * The per-scope traffic series and the upstream's answers. Every series of a label set that can
 * be known in advance is exported at 0 from the first scrape (a provider, a status code the
 * upstreams document; a scope once it is known), so that `increase()` sees the first event. A
 * scope's series, once made, stay until the worker stops: an idle scope's line is flat, never
 * removed and re-created. Per scope that is 10 request outcomes + 4 token series + 4 budget
 * changes + 2 queue gauges = 20 series (docs/metrics.md).
 */
export class TrafficMetrics {
  private readonly requests: Counter<'scope' | 'outcome'>;
  private readonly tokens: Counter<'scope' | 'kind' | 'outcome'>;
  private readonly budgetChanges: Counter<'scope' | 'kind' | 'dimension'>;
  private readonly upstreamResponses: Counter<'provider' | 'code'>;
  private readonly upstreamDuration: Histogram<'provider' | 'class'>;
  private readonly queueDepth: Gauge<'scope'>;
  private readonly queueOldest: Gauge<'scope'>;
  private readonly scopes = new Set<string>();
  private queue: () => QueueState | null = () => null;
  private budgetEvents: BudgetEvents | null = null;
  /** What the budget-change counter already holds, per scope and kind: the warden's totals only grow. */
  private readonly budgetChangesCounted = new Map<string, number>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'ratewarden_scope_requests_total',
      help: 'Requests of a scope by outcome: forwarded; refused locally with 429, by reason; the upstream answer by class (2xx, 4xx, 429, 5xx, or failed: unreachable, timed out, cut short)',
      labelNames: ['scope', 'outcome'],
      registers,
    });
    this.tokens = new Counter({
      name: 'ratewarden_scope_tokens_total',
      help: 'Tokens the upstream reported as used by a scope, by kind, for answers that completed or were cut short',
      labelNames: ['scope', 'kind', 'outcome'],
      registers,
    });
    this.budgetChanges = new Counter({
      name: 'ratewarden_budget_changes_total',
      help: 'Budget changes of a scope the controller made: a cut at an upstream 429, a recovery toward the known-good level',
      labelNames: ['scope', 'kind', 'dimension'],
      registers,
    });
    this.upstreamResponses = new Counter({
      name: 'ratewarden_upstream_responses_total',
      help: 'Answers from the upstream by provider and status code',
      labelNames: ['provider', 'code'],
      registers,
    });
    this.upstreamDuration = new Histogram({
      name: 'ratewarden_upstream_duration_seconds',
      help: 'From sending a request upstream until its answer ended (a 429: until its head), by provider and answer class',
      labelNames: ['provider', 'class'],
      buckets: UPSTREAM_BUCKETS_S,
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'ratewarden_queue_depth',
      help: 'Requests of a scope waiting in the admission queue for budget now',
      labelNames: ['scope'],
      registers,
    });
    this.queueOldest = new Gauge({
      name: 'ratewarden_queue_oldest_wait_seconds',
      help: 'How long the longest-waiting request of a scope has waited so far; 0 when none waits',
      labelNames: ['scope'],
      registers,
    });
    for (const provider of knownProviders) {
      for (const code of knownUpstreamCodes) this.upstreamResponses.inc({ provider, code }, 0);
      for (const answer of upstreamClasses) this.upstreamDuration.zero({ provider, class: answer });
    }
  }

  /** Where the queue is read at scrape time. */
  watchQueue(queue: () => QueueState): void {
    this.queue = queue;
  }

  /**
   * Makes every series of a scope, at 0: called for each scope the store knows, at each scrape.
   * At most `maxScopeSeries` scopes get series of their own (scopeSeriesCap.ts), one of them
   * `other`, where every later scope is counted together; the label the scope is counted
   * under is returned.
   */
  knowScope(scope: string): string {
    if (this.scopes.has(scope)) return scope;
    // Two places are kept: `other`, and the scope that new keys past the scope cap share (scopeCap.ts).
    const label = scope === overflowScope || this.scopes.size < maxScopeSeries - 2 ? scope : otherScopes;
    if (this.scopes.has(label)) return label;
    this.scopes.add(label);
    for (const outcome of requestOutcomes) this.requests.inc({ scope: label, outcome }, 0);
    for (const kind of tokenKinds) for (const outcome of tokenOutcomes) this.tokens.inc({ scope: label, kind, outcome }, 0);
    for (const kind of budgetChangeKinds)
      for (const dimension of budgetDimensions) this.budgetChanges.inc({ scope: label, kind, dimension }, 0);
    return label;
  }

  /** Whether a scope has series of its own (the limiter's gauges are exported only for those). */
  hasSeries(scope: string): boolean {
    return this.knowScope(scope) === scope;
  }

  request(scope: string, outcome: RequestOutcome): void {
    this.requests.inc({ scope: this.knowScope(scope), outcome });
  }

  usedTokens(scope: string, usage: { inputTokens: number; outputTokens: number }, outcome: (typeof tokenOutcomes)[number]): void {
    const label = this.knowScope(scope);
    this.tokens.inc({ scope: label, kind: 'input', outcome }, usage.inputTokens);
    this.tokens.inc({ scope: label, kind: 'output', outcome }, usage.outputTokens);
  }

  /** Where the budget changes this worker committed are read at scrape time (the request path pays nothing). */
  watchBudgetChanges(events: BudgetEvents): void {
    this.budgetEvents = events;
  }

  upstreamAnswered(provider: ProviderName, status: number | null, seconds: number): void {
    if (status !== null) this.upstreamResponses.inc({ provider, code: String(status) });
    this.upstreamDuration.observe({ provider, class: status === null ? 'failed' : upstreamClassOf(status) }, seconds);
  }

  /** At scrape time: the cuts and recoveries committed since the last scrape (other budget changes are not counted). */
  readBudgetChanges(): void {
    for (const { scope, change, budget, count } of this.budgetEvents?.counts() ?? []) {
      if (change === 'other') continue;
      const kind = change === 'cut' ? 'cut' : 'recovery';
      const key = `${scope}\u0000${kind}\u0000${budget}`;
      const counted = this.budgetChangesCounted.get(key) ?? 0;
      if (count <= counted) continue;
      this.budgetChanges.inc({ scope: this.knowScope(scope), kind, dimension: budget }, count - counted);
      this.budgetChangesCounted.set(key, count);
    }
  }

  /** At scrape time: every known scope's queue, 0 where nobody waits. */
  readQueue(): void {
    const queue = this.queue();
    const waiting = new Map((queue?.scopes ?? []).map((entry) => [entry.scope, entry]));
    for (const entry of waiting.keys()) this.knowScope(entry);
    for (const scope of this.scopes) {
      if (scope === otherScopes) continue;
      const entry = waiting.get(scope);
      this.queueDepth.set({ scope }, entry?.length ?? 0);
      this.queueOldest.set({ scope }, (entry?.oldestWaitMs ?? 0) / 1000);
    }
  }
}
