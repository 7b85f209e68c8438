import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/store/sqlite/open.js';
import { restartPolicyFrom } from '../../../src/config/policy.js';
import { scrape } from '../../helpers/prometheus.js';
import { ProxyHarness, anthropicBody, postJson, readRows, recordedRequests, settingsFrom, lastScope } from './harness.js';
import { openSqliteLedger } from '../../helpers/sqliteWarden.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

const chatBody = JSON.stringify({ model: 'gpt-sim', max_tokens: 10, messages: [{ role: 'user', content: 'Hello there' }] });

describe('GET /_ratewarden/metrics', () => {
  it('exposes the limiter, the traffic and the supervisor’s restart history, parsed by a Prometheus parser', async () => {
    const sim = await harness.sim({ tokenLimit: 20_000, requestLimit: 30, retryAfterMode: 'none' });
    const dbPath = harness.dbPath();
    // Two worker failures as the supervisor records them, in the durable history the worker reads.
    const ledger = await openSqliteLedger(dbPath, { policy: restartPolicyFrom(settingsFrom({})), clock: Date.now });
    await ledger.workerFailed(111, { kind: 'exit-code', exitCode: 1 }, 'exit code 1');
    await ledger.workerFailed(222, { kind: 'exit-code', exitCode: 1 }, 'exit code 1');
    await ledger.close();
    const { proxy } = await harness.proxy({ upstream: sim.url, db: dbPath, backoffBase: '30s' });

    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody(), { 'anthropic-version': '2023-06-01' })).status).toBe(200);
    expect((await postJson(`${proxy.url}/v1/chat/completions`, chatBody)).status).toBe(200);
    sim.setMode('always-429');
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(429);
    sim.setMode('normal');
    const local = await postJson(`${proxy.url}/v1/messages`, anthropicBody());
    expect(local.headers.get('x-ratewarden-reason')).toBe('cooldown');
    expect((await fetch(`${proxy.url}/_ratewarden/nothing`)).status).toBe(404);

    const { contentType, scrape: metrics } = await scrape(proxy.url);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sim.stats().requests).toBe(3);

    expect(metrics.value('ratewarden_forwarded_requests_total', { provider: 'anthropic' })).toBe(2);
    expect(metrics.value('ratewarden_forwarded_requests_total', { provider: 'openai' })).toBe(1);
    expect(metrics.value('ratewarden_upstream_429_total', { provider: 'anthropic' })).toBe(1);
    expect(metrics.value('ratewarden_local_replies_total', { code: '429', reason: 'cooldown' })).toBe(1);
    expect(metrics.value('ratewarden_local_replies_total', { code: '404', reason: 'reserved-path' })).toBe(1);

    const rows = recordedRequests(dbPath).filter((row) => row.outcome === 'ok');
    expect(rows).toHaveLength(2);
    expect(metrics.value('ratewarden_tokens_total', { kind: 'input' })).toBe(rows.reduce((sum, row) => sum + (row.input_tokens ?? 0), 0));
    expect(metrics.value('ratewarden_tokens_total', { kind: 'output' })).toBe(rows.reduce((sum, row) => sum + (row.output_tokens ?? 0), 0));

    const scope = lastScope(proxy.warden);
    const state = await proxy.warden.views.readState(scope);
    const usage = await proxy.warden.views.currentUsage(scope);
    expect(state.tokenBudget).not.toBeNull();
    expect(metrics.value('ratewarden_budget', { scope, dimension: 'tokens' })).toBe(state.tokenBudget);
    expect(metrics.value('ratewarden_budget', { scope, dimension: 'requests' })).toBe(state.requestBudget ?? undefined);
    expect(metrics.value('ratewarden_window_usage', { scope, dimension: 'requests' })).toBe(usage.requests);
    expect(metrics.value('ratewarden_window_usage', { scope, dimension: 'tokens' })).toBe(usage.tokens);
    expect(metrics.value('ratewarden_upstream_limit', { scope, dimension: 'tokens' })).toBe(20_000);
    expect(metrics.value('ratewarden_upstream_limit', { scope, dimension: 'requests' })).toBe(30);
    const reported = readRows<{ dimension: string; remaining: number }>(
      dbPath,
      `SELECT dimension, remaining FROM reported_remaining WHERE scope = '${scope}'`,
    );
    expect(reported.length).toBeGreaterThan(0);
    for (const report of reported)
      expect(metrics.value('ratewarden_upstream_remaining', { scope, dimension: report.dimension })).toBe(report.remaining);
    const cooldown = metrics.value('ratewarden_cooldown_remaining_seconds', { scope }) ?? 0;
    expect(cooldown).toBeGreaterThan(0);
    expect(cooldown).toBeLessThanOrEqual(30);
    expect(metrics.value('ratewarden_backoff_level', { scope })).toBe(state.backoffLevel);
    expect(state.backoffLevel).toBeGreaterThan(0);
    expect(metrics.value('ratewarden_consecutive_upstream_429s', { scope })).toBe(1);
    expect(metrics.value('ratewarden_probe_in_flight', { scope })).toBe(0);
    expect(metrics.value('ratewarden_window_seconds')).toBe(60);
    expect(metrics.value('ratewarden_store_readable')).toBe(1);

    expect(metrics.sample('ratewarden_added_latency_seconds')?.count).toBe('3');
    expect(metrics.family('ratewarden_added_latency_seconds')?.type).toBe('HISTOGRAM');
    // Every request that asked for admission: the three forwarded and the one refused in the cooldown.
    expect(metrics.sample('ratewarden_queue_wait_seconds')?.count).toBe('4');

    expect(metrics.value('ratewarden_supervisor_failures_in_interval')).toBe(2);
    expect(metrics.value('ratewarden_supervisor_consecutive_failures')).toBe(2);
    expect(metrics.value('ratewarden_supervisor_gave_up')).toBe(0);
    expect(metrics.family('process_resident_memory_bytes')?.type).toBe('GAUGE');
  });

  it('counts the local 503 of a store that cannot be written, and still answers while it is locked', async () => {
    const sim = await harness.sim();
    const { proxy, dbPath } = await harness.proxy({ upstream: sim.url }, { busyTimeoutMs: 100 });
    const locker = openDatabase(dbPath);
    try {
      locker.exec('BEGIN EXCLUSIVE');
      const refused = await postJson(`${proxy.url}/v1/chat/completions`, chatBody);
      expect(refused.status).toBe(503);
      expect(await refused.json()).toMatchObject({ error: { code: 'service_unavailable' } });
      const { scrape: metrics } = await scrape(proxy.url);
      expect(metrics.value('ratewarden_local_replies_total', { code: '503', reason: 'store-unavailable' })).toBe(1);
      expect(metrics.value('ratewarden_forwarded_requests_total', { provider: 'openai' })).toBe(0);
    } finally {
      locker.exec('ROLLBACK');
      locker.close();
    }
    expect(sim.stats().requests).toBe(0);
  });

  it('is never forwarded, and a HEAD gets the headers only', async () => {
    const sim = await harness.sim();
    const { proxy } = await harness.proxy({ upstream: sim.url });
    const head = await fetch(`${proxy.url}/_ratewarden/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect(sim.stats().requests).toBe(0);
  });
});

describe('the documented metric names', () => {
  it('are exactly what a running proxy exposes, in docs/metrics.md and the Grafana dashboard', async () => {
    const sim = await harness.sim();
    const { proxy } = await harness.proxy({ upstream: sim.url, tokenBudget: '5000', requestBudget: '10' });
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(200);
    const { scrape: metrics } = await scrape(proxy.url);
    const exposed = new Set(metrics.families.map((family) => family.name).filter((name) => name.startsWith('ratewarden_')));
    const named = (file: string): Set<string> =>
      new Set(
        [...readFileSync(new URL(`../../../docs/${file}`, import.meta.url), 'utf8').matchAll(/ratewarden_[a-z0-9_]+/g)].map(([name]) =>
          name.replace(/_(bucket|sum|count)$/, ''),
        ),
      );
    expect([...named('metrics.md')].sort()).toEqual([...exposed].sort());
    for (const name of named('grafana-dashboard.json')) expect(exposed).toContain(name);
  });
});
