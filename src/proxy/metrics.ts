import type { RejectReason } from '../core/admission.js';
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LimiterState, WindowUsage } from '../core/types.js';
import type { RestartSummary } from '../warden/restartSummary.js';
import type { ExchangeRecorder } from './forward.js';
import { localReplyCodes, type LocalReason } from './localReplies.js';
import { knownProviders, TrafficMetrics, upstreamClassOf } from './trafficMetrics.js';
import { unreadableUsage, type ProviderName, type UsageReading } from './providers/types.js';

export const metricsPath = '/_ratewarden/metrics';

/** The labels that name one limiter: its scope (core/scopes.ts); every reading carries it. */
export const limiterLabelNames: readonly string[] = ['scope'];

/** One limiter's state as its read-only views show it at scrape time. */
export interface LimiterReading {
  labels: Record<string, string>;
  state: LimiterState;
  usage: WindowUsage;
  /** What the upstream last reported is left, per limit it reports. */
  reported: { dimension: string; remaining: number; ageMs: number }[];
  cooldownRemainingMs: number;
  probeInFlight: boolean;
}

/** Read at scrape time only, never on the request path. Each may throw when the store cannot be read. */
export interface MetricsSources {
  windowMs: number;
  limiters(): Promise<LimiterReading[]>;
  restarts(): Promise<RestartSummary>;
}

/** Times one request inside ratewarden; `waited` is the hook the admission queue calls. */
export interface RequestTiming {
  /** The request waited this long in the queue for budget (once per wait). */
  waited(ms: number): void;
  /** The request is about to be sent upstream: what ratewarden added, less the queue's waits. */
  forwarding(): void;
}

type Dimension = 'tokens' | 'requests';

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const QUEUE_WAIT_BUCKETS_S = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * The proxy's Prometheus metrics, in a registry of its own (several proxies may share a process
 * in tests). Counters and histograms are fed by the request path in memory; the limiter and
 * supervisor gauges are read from the store when scraped.
 */
export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly limiterGauge = (name: string, help: string, extra: readonly string[] = []): Gauge<string> =>
    new Gauge({ name, help, labelNames: [...limiterLabelNames, ...extra], registers: [this.registry] });
  private readonly plainGauge = (name: string, help: string): Gauge<string> => new Gauge({ name, help, registers: [this.registry] });

  private readonly budget = this.limiterGauge(
    'ratewarden_budget',
    'The budget per window (tokens in the configured token metric, or requests); absent when there is none',
    ['dimension'],
  );
  private readonly windowUsage = this.limiterGauge(
    'ratewarden_window_usage',
    'Tokens (in the configured token metric) or requests counted in the current window, reservations included',
    ['dimension'],
  );
  private readonly upstreamLimit = this.limiterGauge(
    'ratewarden_upstream_limit',
    'The limit per window the upstream last reported in its headers; absent until it reports one',
    ['dimension'],
  );
  private readonly upstreamRemaining = this.limiterGauge(
    'ratewarden_upstream_remaining',
    'What the upstream last reported is left of a limit (tokens, input-tokens, output-tokens, requests); absent until it reports one',
    ['dimension'],
  );
  private readonly upstreamReportAge = this.limiterGauge('ratewarden_upstream_report_age_seconds', 'Seconds since that report was seen', [
    'dimension',
  ]);
  private readonly cooldownRemaining = this.limiterGauge(
    'ratewarden_cooldown_remaining_seconds',
    'Seconds until the current cooldown ends; 0 when not cooling down',
  );
  private readonly backoffLevel = this.limiterGauge(
    'ratewarden_backoff_level',
    'Rung of the backoff ladder the next upstream 429 climbs from',
  );
  private readonly consecutive429s = this.limiterGauge(
    'ratewarden_consecutive_upstream_429s',
    'Upstream 429s in a row since the last success',
  );
  private readonly probeInFlight = this.limiterGauge(
    'ratewarden_probe_in_flight',
    '1 while the half-open probe after a cooldown is in flight',
  );
  private readonly quotaExhausted = this.limiterGauge(
    'ratewarden_quota_exhausted',
    '1 while the upstream says the quota or spend limit of the scope ran out (not a rate limit)',
  );
  private readonly window = this.plainGauge('ratewarden_window_seconds', 'Length of the sliding window the budgets apply to');
  private readonly storeReadable = this.plainGauge(
    'ratewarden_store_readable',
    '1 when the scrape could read the rate-limit store; 0 leaves the store gauges out',
  );
  private readonly failuresInInterval = this.plainGauge(
    'ratewarden_supervisor_failures_in_interval',
    'Worker failures (each followed by a restart unless the supervisor gave up) within --start-limit-interval',
  );
  private readonly consecutiveFailures = this.plainGauge(
    'ratewarden_supervisor_consecutive_failures',
    'Worker failures since the worker was last stable',
  );
  private readonly gaveUp = this.plainGauge(
    'ratewarden_supervisor_gave_up',
    '1 when the supervisor gave up after --start-limit-burst failures',
  );

  private readonly forwardedRequests = new Counter({
    name: 'ratewarden_forwarded_requests_total',
    help: 'Requests forwarded to the upstream',
    labelNames: ['provider'],
    registers: [this.registry],
  });
  private readonly localReplies = new Counter({
    name: 'ratewarden_local_replies_total',
    help: 'Answers ratewarden gave itself without forwarding, by status code and x-ratewarden-reason',
    labelNames: ['code', 'reason'],
    registers: [this.registry],
  });
  private readonly upstream429s = new Counter({
    name: 'ratewarden_upstream_429_total',
    help: 'Upstream answers with status 429',
    labelNames: ['provider'],
    registers: [this.registry],
  });
  private readonly tokens = new Counter({
    name: 'ratewarden_tokens_total',
    help: 'Tokens the upstream reported as used, by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  private readonly addedLatency = new Histogram({
    name: 'ratewarden_added_latency_seconds',
    help: 'Time from a request’s arrival until it is sent upstream, less its queue wait',
    buckets: LATENCY_BUCKETS_S,
    registers: [this.registry],
  });
  private readonly queueWait = new Histogram({
    name: 'ratewarden_queue_wait_seconds',
    help: 'Time a request waited in the admission queue for budget',
    buckets: QUEUE_WAIT_BUCKETS_S,
    registers: [this.registry],
  });

  /** Per-scope outcomes, the upstream's answers, the queue: src/proxy/trafficMetrics.ts. */
  readonly traffic = new TrafficMetrics(this.registry);

  constructor(private readonly sources: MetricsSources) {
    collectDefaultMetrics({ register: this.registry });
    this.window.set(sources.windowMs / 1000);
    // Every label known in advance is exported at 0, so that increase() sees the first event.
    for (const provider of knownProviders) {
      this.forwardedRequests.inc({ provider }, 0);
      this.upstream429s.inc({ provider }, 0);
    }
    for (const kind of ['input', 'output']) this.tokens.inc({ kind }, 0);
    for (const { code, reason } of localReplyCodes) this.localReplies.inc({ code: String(code), reason }, 0);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition: the store's gauges are read now, in a read-only view. */
  async scrape(): Promise<string> {
    await this.readLimiters();
    this.traffic.readBudgetChanges();
    this.traffic.readQueue();
    await this.readRestarts();
    return this.registry.metrics();
  }

  requestTiming(): RequestTiming {
    const arrivedAt = performance.now();
    let waitedMs = 0;
    return {
      waited: (ms) => {
        waitedMs += ms;
        this.queueWait.observe(ms / 1000);
      },
      forwarding: () => this.addedLatency.observe(Math.max(0, performance.now() - arrivedAt - waitedMs) / 1000),
    };
  }

  forwarded(provider: ProviderName, scope: string): void {
    this.forwardedRequests.inc({ provider });
    this.traffic.request(scope, 'forwarded');
  }

  /** A request of `scope` answered locally with 429. */
  refused(scope: string, reason: RejectReason): void {
    this.traffic.request(scope, `local_429_${reason}`);
  }

  localReply(code: number, reason: LocalReason): void {
    this.localReplies.inc({ code: String(code), reason });
  }

  /** The same recorder, with its outcomes counted on the way through. */
  observing(recorder: ExchangeRecorder, provider: ProviderName, scope: string): ExchangeRecorder {
    const sentAt = performance.now();
    const seconds = (): number => (performance.now() - sentAt) / 1000;
    const countTokens = (usage: UsageReading, outcome: 'answered' | 'cut_short'): void => {
      if (usage === null || usage === unreadableUsage) return;
      this.tokens.inc({ kind: 'input' }, usage.inputTokens);
      this.tokens.inc({ kind: 'output' }, usage.outputTokens);
      this.traffic.usedTokens(scope, usage, outcome);
    };
    return {
      rateLimited: (headers, quota) => {
        this.upstream429s.inc({ provider });
        this.traffic.upstreamAnswered(provider, 429, seconds());
        this.traffic.request(scope, 'upstream_429');
        return recorder.rateLimited(headers, quota);
      },
      headArrived: (status, headers, at) => recorder.headArrived(status, headers, at),
      answered: (status, headers, usage) => {
        countTokens(usage, 'answered');
        this.traffic.upstreamAnswered(provider, status, seconds());
        this.traffic.request(scope, `upstream_${upstreamClassOf(status)}` as 'upstream_2xx');
        recorder.answered(status, headers, usage);
      },
      cutShort: (usage) => {
        countTokens(usage, 'cut_short');
        this.traffic.upstreamAnswered(provider, null, seconds());
        this.traffic.request(scope, 'upstream_failed');
        recorder.cutShort(usage);
      },
      failed: (kind, detail, reachedUpstream) => {
        this.traffic.upstreamAnswered(provider, null, seconds());
        this.traffic.request(scope, 'upstream_failed');
        recorder.failed(kind, detail, reachedUpstream);
      },
    };
  }

  private async readLimiters(): Promise<void> {
    const gauges = [
      this.budget,
      this.windowUsage,
      this.upstreamLimit,
      this.upstreamRemaining,
      this.upstreamReportAge,
      this.cooldownRemaining,
      this.backoffLevel,
      this.consecutive429s,
      this.probeInFlight,
      this.quotaExhausted,
    ];
    for (const gauge of gauges) gauge.reset();
    let readings: LimiterReading[];
    try {
      readings = await this.sources.limiters();
    } catch {
      // A scrape must still answer when the store is locked or gone: the health check says why.
      this.storeReadable.set(0);
      return;
    }
    this.storeReadable.set(1);
    for (const { labels, state, usage, reported, cooldownRemainingMs, probeInFlight } of readings) {
      // One bound for every per-scope series: a scope past it has no gauges of its own either.
      if (labels.scope !== undefined && !this.traffic.hasSeries(labels.scope)) continue;
      for (const report of reported) {
        this.upstreamRemaining.set({ ...labels, dimension: report.dimension }, report.remaining);
        this.upstreamReportAge.set({ ...labels, dimension: report.dimension }, report.ageMs / 1000);
      }
      const per = (dimension: Dimension) => ({ ...labels, dimension });
      setIfKnown(this.budget, per('tokens'), state.tokenBudget);
      setIfKnown(this.budget, per('requests'), state.requestBudget);
      this.windowUsage.set(per('tokens'), usage.tokens);
      this.windowUsage.set(per('requests'), usage.requests);
      setIfKnown(this.upstreamLimit, per('tokens'), state.reportedTokenLimit);
      setIfKnown(this.upstreamLimit, per('requests'), state.reportedRequestLimit);
      this.cooldownRemaining.set(labels, cooldownRemainingMs / 1000);
      this.backoffLevel.set(labels, state.backoffLevel);
      this.consecutive429s.set(labels, state.consecutive429s);
      this.probeInFlight.set(labels, probeInFlight ? 1 : 0);
      this.quotaExhausted.set(labels, state.quotaSince !== null ? 1 : 0);
    }
  }

  private async readRestarts(): Promise<void> {
    const gauges = [this.failuresInInterval, this.consecutiveFailures, this.gaveUp];
    for (const gauge of gauges) gauge.reset();
    let summary: RestartSummary;
    try {
      summary = await this.sources.restarts();
    } catch {
      return;
    }
    this.failuresInInterval.set(summary.failuresInInterval);
    this.consecutiveFailures.set(summary.consecutiveFailures);
    this.gaveUp.set(summary.gaveUp ? 1 : 0);
  }
}

function setIfKnown(gauge: Gauge<string>, labels: Record<string, string>, value: number | null): void {
  if (value !== null) gauge.set(labels, value);
}
