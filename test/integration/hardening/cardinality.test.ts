import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/kernel/log.js';
import { maxNewScopesPerMinute, overflowScope } from '../../../src/proxy/scopeCap.js';
import { maxScopeSeries } from '../../../src/proxy/scopeSeriesCap.js';
import { ProxyHarness, anthropicBody, postJson, readRows } from '../proxy/harness.js';

/** Issue 26 item 4 through a real proxy on a real SQLite file: what a flood of random keys can create is bounded. */
const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

function keptLogger(): Logger & { events: string[] } {
  const events: string[] = [];
  const keep = (event: string): void => {
    events.push(event);
  };
  return { events, info: keep, warn: keep, error: keep };
}

describe('a flood of random API keys', () => {
  it('makes at most the per-minute cap of scopes; the rest share the overflow scope (still served and counted); /metrics stays bounded; health answers', async () => {
    const upstream = await harness.upstream((request, response) => {
      request.resume();
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ type: 'message', usage: { input_tokens: 5, output_tokens: 5 } }));
    });
    const log = keptLogger();
    // A clock that stands still: the cap's refill (10 new scopes a second) plays no part, however slow the machine.
    const frozenAt = Date.now();
    const { proxy, dbPath } = await harness.proxy(
      { upstream: upstream.url, provider: 'anthropic', scopeBy: 'key' },
      { log, clock: () => frozenAt },
    );
    const keys = maxNewScopesPerMinute + 100;
    const scopes: string[] = [];
    for (let batch = 0; batch < keys; batch += 50) {
      const answers = await Promise.all(
        Array.from({ length: Math.min(50, keys - batch) }, () =>
          postJson(`${proxy.url}/v1/messages`, anthropicBody(), { 'x-api-key': `sk-random-${randomBytes(12).toString('hex')}` }),
        ),
      );
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        scopes.push(answer.headers.get('x-ratewarden-scope') ?? '');
      }
    }
    const rows = readRows<{ scope: string; n: number }>(dbPath, 'SELECT scope, COUNT(*) AS n FROM requests GROUP BY scope');
    // Every request was counted; the ones past the cap together, in one scope.
    expect(rows.reduce((sum, row) => sum + row.n, 0)).toBe(keys);
    const overflow = rows.find((row) => row.scope === overflowScope)?.n ?? 0;
    expect(overflow).toBe(100);
    expect(rows.filter((row) => row.scope !== overflowScope)).toHaveLength(maxNewScopesPerMinute);
    expect(log.events).toContain('scope-overflow');

    const metrics = await (await fetch(`${proxy.url}/_ratewarden/metrics`)).text();
    const scopeLabels = new Set([...metrics.matchAll(/scope="([^"]*)"/g)].map((match) => match[1]));
    expect(scopeLabels.size).toBeLessThanOrEqual(maxScopeSeries);
    expect(scopeLabels.has(overflowScope)).toBe(true);

    const health = await fetch(`${proxy.url}/_ratewarden/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', breaker: 'closed' });
  });

  it('the health check names a cooling scope from what the ticker saw, without reading the scopes', async () => {
    const upstream = await harness.upstream((request, response) => {
      request.resume();
      response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '120' });
      response.end('{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}');
    });
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' });
    expect((await postJson(`${proxy.url}/v1/messages`, anthropicBody())).status).toBe(429);
    // The ticker's next look (at most one tick away) sees the scope cooling.
    for (;;) {
      const report = (await (await fetch(`${proxy.url}/_ratewarden/health`)).json()) as { breaker: string; cooldownRemainingMs: number };
      if (report.breaker === 'cooling') {
        expect(report.cooldownRemainingMs).toBeGreaterThan(100_000);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});
