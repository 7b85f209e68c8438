import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultLimiterPolicy } from '../../../src/core/types.js';
import { applyMigrations, loadSqliteMigrations } from '../../../src/store/sqlite/migrations.js';
import { ProxyHarness, postJson, readRows } from '../proxy/harness.js';
import { openSqliteWarden, sqlOf } from '../../helpers/sqliteWarden.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

/**
 * A database as main made it before scopes (schema 5: one limiter_state row), cooling down after
 * two upstream 429s, with usage in the window and a report of what is left.
 */
function mainMadeDatabase(dbPath: string, now: number): { cooldownUntil: number } {
  const db = new BetterSqlite3(dbPath);
  try {
    db.pragma('journal_mode = WAL');
    applyMigrations(
      db,
      loadSqliteMigrations().filter((migration) => migration.version <= 5),
    );
    expect(db.pragma('user_version', { simple: true })).toBe(5);
    const cooldownUntil = now + 120_000;
    db.prepare(
      'UPDATE limiter_state SET consecutive_429s = 2, backoff_level = 2, cooldown_started_at = ?, cooldown_until = ?, last_429_at = ?, token_budget = 9000, refused_cooldown_total = 4, updated_at = ? WHERE id = 1',
    ).run(now - 1_000, cooldownUntil, now - 1_000, now - 1_000);
    db.prepare('INSERT INTO usage_buckets (start, input_tokens, output_tokens, requests) VALUES (?, 700, 300, 3)').run(
      Math.floor((now - 5_000) / 1_000) * 1_000,
    );
    db.prepare(
      "INSERT INTO reported_remaining (dimension, limit_value, remaining, reset_at, seen_at, admitted_since, rounding_slack) VALUES ('requests', 50, 0, ?, ?, 0, 0)",
    ).run(now + 30_000, now - 1_000);
    db.prepare(
      "INSERT INTO calibration_samples (at, kind, tokens, requests, window_ms, limit_tokens) VALUES (?, 'upstream-429', 1000, 3, 60000, 10000)",
    ).run(now - 1_000);
    return { cooldownUntil };
  } finally {
    db.close();
  }
}

describe('migration 006 (scopes) of a database main made', () => {
  it('keeps its state as the scope default: the cooldown, the backoff, the budget, the window, the report, the samples', async () => {
    const dbPath = harness.dbPath();
    const now = Date.now();
    const { cooldownUntil } = mainMadeDatabase(dbPath, now);

    const warden = await openSqliteWarden(dbPath, { policy: defaultLimiterPolicy, clock: () => now });
    try {
      expect(sqlOf(warden).pragma('user_version')).toBeGreaterThanOrEqual(6);
      expect(await warden.views.readState('default')).toMatchObject({
        consecutive429s: 2,
        backoffLevel: 2,
        cooldownUntil,
        tokenBudget: 9000,
      });
      expect(await warden.views.currentUsage('default')).toEqual({ tokens: 1000, requests: 3 });
      expect(readRows(dbPath, 'SELECT scope, dimension, remaining FROM reported_remaining')).toEqual([
        { scope: 'default', dimension: 'requests', remaining: 0 },
      ]);
      expect(readRows(dbPath, 'SELECT scope, refused_cooldown_total FROM limiter_state')).toEqual([
        { scope: 'default', refused_cooldown_total: 4 },
      ]);
      expect(readRows(dbPath, 'SELECT scope, kind FROM calibration_samples')).toEqual([{ scope: 'default', kind: 'upstream-429' }]);
      // The cooldown that held every request then still holds them: a scope first seen now starts cooling until the same time.
      const admission = await warden.admit({
        method: 'POST',
        path: '/v1/messages',
        estimate: { inputTokens: 10, outputTokens: 10 },
        scope: 'abcdef0123456789/claude-opus',
      });
      expect(admission).toMatchObject({ kind: 'rejected', reason: 'cooldown' });
      expect((await warden.views.readState('abcdef0123456789/claude-opus')).cooldownUntil).toBe(cooldownUntil);
    } finally {
      await warden.close();
    }
  });

  it('a proxy started on it keeps refusing locally until the cooldown ends, and the upstream sees nothing', async () => {
    let reached = 0;
    const upstream = await harness.upstream((request, response) => {
      request.resume();
      reached += 1;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    });
    const dbPath = harness.dbPath();
    const { cooldownUntil } = mainMadeDatabase(dbPath, Date.now());
    const { proxy } = await harness.proxy({ db: dbPath, upstream: upstream.url, provider: 'anthropic' });
    const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    const answer = await postJson(`${proxy.url}/v1/messages`, body, { 'x-api-key': 'sk-ant-migrated' });
    expect(answer.status).toBe(429);
    expect(answer.headers.get('x-ratewarden-reason')).toBe('cooldown');
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(100);
    expect(reached).toBe(0);
    expect((await proxy.warden.views.readState('default')).cooldownUntil).toBe(cooldownUntil);
  });
});
