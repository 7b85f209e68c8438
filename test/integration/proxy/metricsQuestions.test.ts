import { requestOutcomes } from '../../../src/proxy/trafficMetrics.js';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { scrape, type Scrape } from '../../helpers/prometheus.js';
import { ProxyHarness, anthropicBody, postJson, lastScope } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

interface DashboardPanel {
  title: string;
  targets?: { expr: string }[];
}

/** Every PromQL expression of the dashboard. */
function dashboardQueries(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(new URL('../../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as {
    panels: DashboardPanel[];
  };
  return dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })));
}

/** Each metric a query names, with the label names its selector matches on (Grafana's $job aside, which Prometheus adds). */
function selectors(expr: string): { metric: string; labels: string[] }[] {
  return [...expr.matchAll(/(ratewarden_[a-z0-9_]+)(?:\{([^}]*)\})?/g)].map((match) => ({
    metric: (match[1] as string).replace(/_(bucket|sum|count)$/, ''),
    labels: [...(match[2] ?? '').matchAll(/([a-z_]+)\s*(?:=~|!~|!=|=)/g)]
      .map((label) => label[1] as string)
      .filter((name) => name !== 'job'),
  }));
}

function labelNamesOf(metrics: Scrape, name: string): Set<string> {
  const names = new Set<string>();
  for (const sample of metrics.family(name)?.metrics ?? []) {
    for (const key of Object.keys(sample.labels ?? {})) names.add(key);
    // Histogram samples carry their labels per bucket.
    for (const key of Object.keys((sample as { buckets?: unknown; labels?: Record<string, string> }).labels ?? {})) names.add(key);
  }
  return names;
}

describe('metrics that answer an operator’s questions', () => {
  it('exports every labelled counter at 0 on the first scrape, before any request', async () => {
    const sim = await harness.sim();
    const { proxy } = await harness.proxy({ upstream: sim.url });
    const { scrape: first } = await scrape(proxy.url);
    for (const provider of ['anthropic', 'openai', 'generic']) {
      expect(first.value('ratewarden_upstream_429_total', { provider })).toBe(0);
      expect(first.value('ratewarden_forwarded_requests_total', { provider })).toBe(0);
      expect(first.value('ratewarden_upstream_responses_total', { provider, code: '429' })).toBe(0);
      expect(first.value('ratewarden_upstream_responses_total', { provider, code: '529' })).toBe(0);
    }
    expect(first.value('ratewarden_local_replies_total', { code: '429', reason: 'cooldown' })).toBe(0);
    expect(first.value('ratewarden_local_replies_total', { code: '429', reason: 'budget' })).toBe(0);
    expect(first.value('ratewarden_local_replies_total', { code: '503', reason: 'store-unavailable' })).toBe(0);
    expect(first.value('ratewarden_tokens_total', { kind: 'output' })).toBe(0);
  });

  it('counts each scope’s requests and tokens by outcome, and the upstream’s codes, with the series of an idle scope kept', async () => {
    const sim = await harness.sim({ outputTokens: 7, retryAfterMode: 'none' });
    const { proxy } = await harness.proxy({ upstream: sim.url, provider: 'anthropic', backoffBase: '30s' });
    const key = { 'x-api-key': 'sk-ant-one' };
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody(), key)).status).toBe(200);
    const scope = lastScope(proxy.warden);
    sim.setMode('always-429');
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody(), key)).status).toBe(429);
    sim.setMode('normal');
    const local = await postJson(`${proxy.url}/v1/messages`, anthropicBody(), key);
    expect(local.headers.get('x-ratewarden-reason')).toBe('cooldown');

    const { scrape: metrics } = await scrape(proxy.url);
    expect(metrics.value('ratewarden_scope_requests_total', { scope, outcome: 'forwarded' })).toBe(2);
    expect(metrics.value('ratewarden_scope_requests_total', { scope, outcome: 'upstream_2xx' })).toBe(1);
    expect(metrics.value('ratewarden_scope_requests_total', { scope, outcome: 'upstream_429' })).toBe(1);
    expect(metrics.value('ratewarden_scope_requests_total', { scope, outcome: 'local_429_cooldown' })).toBe(1);
    expect(metrics.value('ratewarden_scope_requests_total', { scope, outcome: 'local_429_budget' })).toBe(0);
    expect(metrics.value('ratewarden_scope_tokens_total', { scope, kind: 'output', outcome: 'answered' })).toBe(7);
    expect(metrics.value('ratewarden_upstream_responses_total', { provider: 'anthropic', code: '200' })).toBe(1);
    expect(metrics.value('ratewarden_upstream_responses_total', { provider: 'anthropic', code: '429' })).toBe(1);
    expect(metrics.family('ratewarden_upstream_duration_seconds')).toBeDefined();
    expect(metrics.value('ratewarden_queue_depth', { scope })).toBe(0);

    // A second scrape shows the same series for the scope: nothing is dropped while it idles.
    const { scrape: again } = await scrape(proxy.url);
    const seriesOf = (from: Scrape) =>
      (from.family('ratewarden_scope_requests_total')?.metrics ?? []).filter((sample) => sample.labels?.scope === scope).length;
    expect(seriesOf(again)).toBe(requestOutcomes.length);
    expect(seriesOf(again)).toBe(seriesOf(metrics));
  });

  it('shows the requests waiting in the queue, per scope, while they wait', async () => {
    const sim = await harness.sim();
    const { proxy } = await harness.proxy({ upstream: sim.url, provider: 'anthropic', requestBudget: '1', maxWait: '20s', window: '10s' });
    const key = { 'x-api-key': 'sk-ant-queue' };
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody(), key)).status).toBe(200);
    const scope = lastScope(proxy.warden);
    const waiting = new AbortController();
    const held = fetch(`${proxy.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...key },
      body: anthropicBody(),
      signal: waiting.signal,
    }).catch(() => undefined);
    while (proxy.queueLength() === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    const { scrape: metrics } = await scrape(proxy.url);
    expect(metrics.value('ratewarden_queue_depth', { scope })).toBe(1);
    expect(metrics.value('ratewarden_queue_oldest_wait_seconds', { scope })).toBeGreaterThanOrEqual(0);
    waiting.abort();
    await held;
  });

  it('the Grafana dashboard has a scope variable, and every query names series and labels the scrape really has', async () => {
    const sim = await harness.sim();
    const { proxy } = await harness.proxy({ upstream: sim.url, tokenBudget: '5000', requestBudget: '10' });
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody(), { 'x-api-key': 'k' })).status).toBe(200);
    const { scrape: metrics } = await scrape(proxy.url);
    const dashboard = JSON.parse(readFileSync(new URL('../../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as {
      templating: { list: { name: string; query: { query: string } }[] };
    };
    const scopeVariable = dashboard.templating.list.find((variable) => variable.name === 'scope');
    expect(scopeVariable?.query.query).toMatch(/label_values\(ratewarden_\w+\{job=~"\$job"\}, scope\)/);
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThanOrEqual(15);
    for (const { panel, expr } of [...queries, { panel: 'scope variable', expr: scopeVariable?.query.query ?? '' }]) {
      for (const { metric, labels } of selectors(expr)) {
        expect({ panel, metric, exposed: metrics.family(metric) !== undefined }).toEqual({ panel, metric, exposed: true });
        const has = labelNamesOf(metrics, metric);
        for (const label of labels)
          expect({ panel, metric, label, exposed: has.has(label) }).toEqual({ panel, metric, label, exposed: true });
      }
    }
  });
});
