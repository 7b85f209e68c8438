import { describe, expect, it } from 'vitest';
import { initialLimiterState } from '../../../src/core/types.js';
import { ProxyMetrics, type MetricsSources } from '../../../src/proxy/metrics.js';
import { Scrape } from '../../helpers/prometheus.js';

const noRestarts = {
  failuresInInterval: 0,
  consecutiveFailures: 0,
  nextRestartDelayMs: 10_000,
  restartDueInMs: 0,
  gaveUp: false,
  burstLimitReachable: true,
  lastExit: null,
};

function sources(overrides: Partial<MetricsSources> = {}): MetricsSources {
  return {
    windowMs: 60_000,
    limiters: async () => [
      {
        labels: {},
        state: { ...initialLimiterState, tokenBudget: 9000 },
        usage: { tokens: 120, requests: 2 },
        reported: [],
        cooldownRemainingMs: 0,
        probeInFlight: false,
      },
    ],
    restarts: async () => noRestarts,
    ...overrides,
  };
}

describe('ProxyMetrics', () => {
  it('observes queue waits through the hook, and leaves them out of the added latency', async () => {
    const metrics = new ProxyMetrics(sources());
    const timing = metrics.requestTiming();
    timing.waited(1500);
    timing.waited(2500);
    timing.forwarding();
    const scraped = new Scrape(await metrics.scrape());
    expect(scraped.sample('ratewarden_queue_wait_seconds')).toMatchObject({ count: '2', sum: '4' });
    expect(scraped.sample('ratewarden_queue_wait_seconds')?.buckets?.['2.5']).toBe('2');
    expect(scraped.sample('ratewarden_queue_wait_seconds')?.buckets?.['1']).toBe('0');
    const added = scraped.sample('ratewarden_added_latency_seconds');
    expect(added?.count).toBe('1');
    expect(Number(added?.sum)).toBeLessThan(1);
  });

  it('still answers when the store cannot be read, with the store gauges left out rather than stale', async () => {
    let readable = true;
    const metrics = new ProxyMetrics(
      sources({
        limiters: () => {
          if (!readable) throw new Error('database is locked');
          return sources().limiters();
        },
      }),
    );
    expect(new Scrape(await metrics.scrape()).value('ratewarden_budget', { dimension: 'tokens' })).toBe(9000);
    readable = false;
    const scraped = new Scrape(await metrics.scrape());
    expect(scraped.value('ratewarden_store_readable')).toBe(0);
    expect(scraped.value('ratewarden_budget', { dimension: 'tokens' })).toBeUndefined();
    expect(scraped.value('ratewarden_window_usage', { dimension: 'tokens' })).toBeUndefined();
  });

  it('leaves out a budget the state does not have, instead of reporting 0', async () => {
    const scraped = new Scrape(await new ProxyMetrics(sources()).scrape());
    expect(scraped.value('ratewarden_budget', { dimension: 'requests' })).toBeUndefined();
    expect(scraped.value('ratewarden_upstream_limit', { dimension: 'tokens' })).toBeUndefined();
    expect(scraped.value('ratewarden_window_usage', { dimension: 'tokens' })).toBe(120);
  });
});
