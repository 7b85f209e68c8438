import { readFileSync, existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/kernel/log.js';
import { fingerprintOf } from '../../../src/proxy/scopeOf.js';
import { scrape } from '../../helpers/prometheus.js';
import { ProxyHarness, postJson, readRows } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

const keyA = 'sk-ant-api03-scope-test-key-AAAAAAAAAAAAAAAAAAAAAAAA';
const keyB = 'sk-ant-api03-scope-test-key-BBBBBBBBBBBBBBBBBBBBBBBB';

function body(model: string): string {
  return JSON.stringify({ model, max_tokens: 20, messages: [{ role: 'user', content: 'Hello there' }] });
}

function send(url: string, model: string, key = keyA, path = '/v1/messages'): Promise<Response> {
  return postJson(`${url}${path}`, body(model), { 'x-api-key': key, 'anthropic-version': '2023-06-01' });
}

interface Seen {
  model: string;
  key: string | undefined;
}

/**
 * An Anthropic-shaped upstream that answers 429 to the models (or keys) in `limited`, and 200
 * with exact usage otherwise; it counts what reached it.
 */
async function modelUpstream(limited: Set<string>, headers: (seen: Seen) => Record<string, string> = () => ({})) {
  const seen: Seen[] = [];
  const upstream = await harness.upstream((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const { model } = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { model: string };
      const key = request.headers['x-api-key'] as string | undefined;
      seen.push({ model, key });
      if (limited.has(model) || (key !== undefined && limited.has(key))) {
        response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '30', ...headers({ model, key }) });
        response.end(JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'limited' } }));
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json', ...headers({ model, key }) });
      response.end(
        JSON.stringify({
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          usage: { input_tokens: 7, output_tokens: 3 },
        }),
      );
    });
  });
  return { url: upstream.url, seen };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

function scopesOf(dbPath: string): string[] {
  return readRows<{ scope: string }>(dbPath, 'SELECT DISTINCT scope FROM requests ORDER BY scope').map((row) => row.scope);
}

function stateRow(dbPath: string, scope: string) {
  const [row] = readRows<{ cooldown_until: number | null; consecutive_429s: number; backoff_level: number }>(
    dbPath,
    `SELECT cooldown_until, consecutive_429s, backoff_level FROM limiter_state WHERE scope = '${scope}'`,
  );
  return row;
}

describe('scopes: one key, two models', () => {
  it('a 429 on Opus cools Opus only: Haiku on the same key keeps going upstream', async () => {
    const upstream = await modelUpstream(new Set(['claude-opus-4-1']));
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', backoffBase: '30s' });

    expect((await send(proxy.url, 'claude-opus-4-1')).status).toBe(429);
    const local = await send(proxy.url, 'claude-opus-4-1');
    expect(local.status).toBe(429);
    expect(local.headers.get('x-ratewarden-reason')).toBe('cooldown');
    const opusScope = local.headers.get('x-ratewarden-scope') as string;
    expect(opusScope).toMatch(/^[0-9a-f]{16}\/claude-opus$/);

    for (let i = 0; i < 3; i++) expect((await send(proxy.url, 'claude-3-5-haiku-latest')).status).toBe(200);
    expect(upstream.seen.map((seen) => seen.model)).toEqual([
      'claude-opus-4-1',
      'claude-3-5-haiku-latest',
      'claude-3-5-haiku-latest',
      'claude-3-5-haiku-latest',
    ]);

    const haikuScope = opusScope.replace(/claude-opus$/, 'claude-haiku-3-5');
    expect(scopesOf(dbPath)).toEqual([opusScope, haikuScope].sort());
    expect(stateRow(dbPath, opusScope)).toMatchObject({ consecutive_429s: 1, backoff_level: 1 });
    expect(stateRow(dbPath, opusScope)?.cooldown_until).toBeGreaterThan(Date.now());
    expect(stateRow(dbPath, haikuScope)).toMatchObject({ cooldown_until: null, consecutive_429s: 0, backoff_level: 0 });
  });

  it('--scope-by none keeps one limiter for everything, as before scopes', async () => {
    const upstream = await modelUpstream(new Set(['claude-opus-4-1']));
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', backoffBase: '30s', scopeBy: 'none' });
    expect((await send(proxy.url, 'claude-opus-4-1')).status).toBe(429);
    const haiku = await send(proxy.url, 'claude-haiku-4-5', keyB);
    expect(haiku.status).toBe(429);
    expect(haiku.headers.get('x-ratewarden-scope')).toBe('default');
    expect(upstream.seen).toHaveLength(1);
    expect(scopesOf(dbPath)).toEqual(['default']);
  });

  it('budgets each model on its own: Opus traffic that fills its budget refuses no Haiku request', async () => {
    const upstream = await modelUpstream(new Set());
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', requestBudget: '2', maxWait: '0s' });

    expect((await send(proxy.url, 'claude-opus-4-1')).status).toBe(200);
    expect((await send(proxy.url, 'claude-opus-4-1')).status).toBe(200);
    const refused = await send(proxy.url, 'claude-opus-4-1');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ratewarden-reason')).toBe('budget');
    // The user's complaint: this Haiku request was refused because Opus had filled the shared budget.
    expect((await send(proxy.url, 'claude-haiku-4-5')).status).toBe(200);
    expect((await send(proxy.url, 'claude-haiku-4-5')).status).toBe(200);
    expect((await send(proxy.url, 'claude-haiku-4-5')).status).toBe(429);
  });

  it('a Haiku request is not queued behind Opus requests waiting for their budget', async () => {
    const upstream = await modelUpstream(new Set());
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', requestBudget: '1', maxWait: '2s' });
    expect((await send(proxy.url, 'claude-opus-4-1')).status).toBe(200);
    // The next Opus request waits for its window to refill (a minute, longer than --max-wait).
    const opus = send(proxy.url, 'claude-opus-4-1');
    await until(() => proxy.queueLength() === 1);
    // Meanwhile a request of another family is answered at once, while the Opus one still waits.
    const sonnet = await send(proxy.url, 'claude-sonnet-4-5');
    expect(sonnet.status).toBe(200);
    expect(proxy.queueLength()).toBe(1);
    const refused = await opus;
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ratewarden-reason')).toBe('budget');
    expect(upstream.seen.map((seen) => seen.model)).toEqual(['claude-opus-4-1', 'claude-sonnet-4-5']);
  });

  it('per-scope budgets from --scope-budgets, and a daily request budget next to the window', async () => {
    const upstream = await modelUpstream(new Set());
    const { proxy } = await harness.proxy({
      upstream: upstream.url,
      provider: 'anthropic',
      maxWait: '0s',
      scopeBudgets: '*/claude-opus=requests:1; */claude-sonnet=daily-requests:2',
    });
    expect((await send(proxy.url, 'claude-opus-4-1')).status).toBe(200);
    expect((await send(proxy.url, 'claude-opus-4-1')).status).toBe(429);
    expect((await send(proxy.url, 'claude-sonnet-4-5')).status).toBe(200);
    expect((await send(proxy.url, 'claude-sonnet-4-5')).status).toBe(200);
    const daily = await send(proxy.url, 'claude-sonnet-4-5');
    expect(daily.status).toBe(429);
    expect(daily.headers.get('x-ratewarden-reason')).toBe('budget');
    expect(((await daily.json()) as { error: { message: string } }).error.message).toMatch(/daily request budget/);
    expect(Number(daily.headers.get('retry-after'))).toBeGreaterThan(60);
    // Neither limit touches Haiku's scope.
    for (let i = 0; i < 3; i++) expect((await send(proxy.url, 'claude-haiku-4-5')).status).toBe(200);
  });
});

describe('scopes: two keys', () => {
  it('a 429 on one key cools that key only; the fingerprint is not the key, and the key is in no file or log line', async () => {
    const upstream = await modelUpstream(new Set([keyA]));
    const lines: string[] = [];
    const { proxy, dbPath } = await harness.proxy(
      { upstream: upstream.url, provider: 'anthropic', backoffBase: '30s', logFormat: 'json' },
      { log: createLogger('json', (line) => void lines.push(line)) },
    );
    expect((await send(proxy.url, 'claude-sonnet-4-5', keyA)).status).toBe(429);
    expect((await send(proxy.url, 'claude-sonnet-4-5', keyA)).headers.get('x-ratewarden-reason')).toBe('cooldown');
    for (let i = 0; i < 3; i++) expect((await send(proxy.url, 'claude-sonnet-4-5', keyB)).status).toBe(200);
    expect(upstream.seen.filter((seen) => seen.key === keyB)).toHaveLength(3);
    expect(upstream.seen.filter((seen) => seen.key === keyA)).toHaveLength(1);

    const [secret] = readRows<{ secret: string }>(dbPath, 'SELECT secret FROM fingerprint_secret');
    const scopeA = `${fingerprintOf(keyA, secret?.secret as string)}/claude-sonnet`;
    const scopeB = `${fingerprintOf(keyB, secret?.secret as string)}/claude-sonnet`;
    expect(scopesOf(dbPath)).toEqual([scopeA, scopeB].sort());
    expect(stateRow(dbPath, scopeA)?.cooldown_until).toBeGreaterThan(Date.now());
    expect(stateRow(dbPath, scopeB)).toMatchObject({ cooldown_until: null, consecutive_429s: 0 });

    await proxy.close(0);
    for (const file of [dbPath, `${dbPath}-wal`]) {
      if (!existsSync(file)) continue;
      const bytes = readFileSync(file);
      for (const key of [keyA, keyB]) {
        expect(bytes.includes(Buffer.from(key)), `${key} in ${file}`).toBe(false);
        // Not even a long piece of it.
        expect(bytes.includes(Buffer.from(key.slice(-24))), `part of ${key} in ${file}`).toBe(false);
      }
    }
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).not.toContain(keyA.slice(-24));
      expect(line).not.toContain(keyB.slice(-24));
    }
  });

  it('a 429 whose headers show room on every limit of the scope cools every scope of that key (a shared limit)', async () => {
    const roomLeft = (): Record<string, string> => ({
      'anthropic-ratelimit-requests-limit': '50',
      'anthropic-ratelimit-requests-remaining': '40',
      'anthropic-ratelimit-requests-reset': new Date(Date.now() + 60_000).toISOString(),
      'anthropic-ratelimit-tokens-limit': '100000',
      'anthropic-ratelimit-tokens-remaining': '90000',
      'anthropic-ratelimit-tokens-reset': new Date(Date.now() + 60_000).toISOString(),
    });
    const limited = new Set<string>();
    const upstream = await modelUpstream(limited, roomLeft);
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', backoffBase: '30s' });
    expect((await send(proxy.url, 'claude-haiku-4-5', keyA)).status).toBe(200);
    expect((await send(proxy.url, 'claude-haiku-4-5', keyB)).status).toBe(200);
    limited.add('claude-opus-4-1');
    expect((await send(proxy.url, 'claude-opus-4-1', keyA)).status).toBe(429);
    // Key A's Haiku scope is cooled with it; key B is not.
    const haikuA = await send(proxy.url, 'claude-haiku-4-5', keyA);
    expect(haikuA.status).toBe(429);
    expect(haikuA.headers.get('x-ratewarden-reason')).toBe('cooldown');
    expect((await send(proxy.url, 'claude-haiku-4-5', keyB)).status).toBe(200);
  });
});

describe('scopes in the metrics', () => {
  it('labels every limiter gauge with its scope', async () => {
    const upstream = await modelUpstream(new Set(['claude-opus-4-1']));
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', backoffBase: '30s' });
    const opus = await send(proxy.url, 'claude-opus-4-1');
    expect(opus.status).toBe(429);
    const opusScope = (await send(proxy.url, 'claude-opus-4-1')).headers.get('x-ratewarden-scope') as string;
    const haikuScope = opusScope.replace(/claude-opus$/, 'claude-haiku');
    expect((await send(proxy.url, 'claude-haiku-4-5')).status).toBe(200);
    expect((await send(proxy.url, 'claude-haiku-4-5')).status).toBe(200);

    const { scrape: metrics } = await scrape(proxy.url);
    expect(metrics.value('ratewarden_cooldown_remaining_seconds', { scope: opusScope })).toBeGreaterThan(0);
    expect(metrics.value('ratewarden_cooldown_remaining_seconds', { scope: haikuScope })).toBe(0);
    expect(metrics.value('ratewarden_backoff_level', { scope: opusScope })).toBe(1);
    expect(metrics.value('ratewarden_backoff_level', { scope: haikuScope })).toBe(0);
    expect(metrics.value('ratewarden_window_usage', { scope: haikuScope, dimension: 'requests' })).toBe(2);
    expect(metrics.value('ratewarden_window_usage', { scope: opusScope, dimension: 'requests' })).toBe(1);
  });
});
