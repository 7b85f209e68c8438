import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultLimiterPolicy } from '../../../src/core/types.js';
import { applyMigrations, loadSqliteMigrations } from '../../../src/store/sqlite/migrations.js';
import { openSqliteWarden, sqlOf } from '../../helpers/sqliteWarden.js';
import { admitted } from '../../helpers/openWardens.js';
import { ProxyHarness, readRows } from '../proxy/harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

const keyScope = 'abcdef0123456789/claude-sonnet';
const otherKeyScope = '0123456789abcdef/claude-sonnet';
const organization = { provider: 'anthropic', organization: 'c0ffee00-1111-2222-3333-444455556666', project: null } as const;
const group = `org:${organization.organization}/claude-sonnet`;
const request = { method: 'POST', path: '/v1/messages', estimate: { inputTokens: 100, outputTokens: 50 } };

/** A database at schema 7 (scopes, before groups): one key's scope cooling after a 429, another key's with usage in the window. */
function databaseBeforeGroups(dbPath: string, now: number): { cooldownUntil: number } {
  const db = new BetterSqlite3(dbPath);
  try {
    db.pragma('journal_mode = WAL');
    applyMigrations(
      db,
      loadSqliteMigrations().filter((migration) => migration.version <= 7),
    );
    const cooldownUntil = now + 120_000;
    db.prepare(
      `INSERT INTO limiter_state (scope, consecutive_429s, backoff_level, cooldown_started_at, cooldown_until, last_429_at, token_budget, refused_cooldown_total, created_at, updated_at)
       VALUES (?, 2, 2, ?, ?, ?, 9000, 4, ?, ?)`,
    ).run(keyScope, now - 1_000, cooldownUntil, now - 1_000, now - 1_000, now - 1_000);
    db.prepare('INSERT INTO limiter_state (scope, created_at, updated_at) VALUES (?, ?, ?)').run(otherKeyScope, now - 1_000, now - 1_000);
    db.prepare('INSERT INTO usage_buckets (scope, start, input_tokens, output_tokens, requests) VALUES (?, ?, 700, 300, 3)').run(
      otherKeyScope,
      Math.floor((now - 5_000) / 1_000) * 1_000,
    );
    return { cooldownUntil };
  } finally {
    db.close();
  }
}

describe('migration 008 (limit groups)', () => {
  it("keeps every scope's state, cooldowns included; a key that joins its organization keeps its cooldown and brings its usage", async () => {
    const dbPath = harness.dbPath();
    const now = Date.now();
    const { cooldownUntil } = databaseBeforeGroups(dbPath, now);

    const warden = await openSqliteWarden(dbPath, { policy: defaultLimiterPolicy, clock: () => now });
    try {
      expect(sqlOf(warden).pragma('user_version')).toBeGreaterThanOrEqual(8);
      expect(await warden.views.readState(keyScope)).toMatchObject({
        consecutive429s: 2,
        backoffLevel: 2,
        cooldownUntil,
        tokenBudget: 9000,
        quotaSince: null,
      });
      expect(await warden.views.currentUsage(otherKeyScope)).toEqual({ tokens: 1000, requests: 3 });
      expect(await warden.admit({ ...request, scope: keyScope })).toMatchObject({ kind: 'rejected', reason: 'cooldown' });

      // The other key's organization is learned: its window joins the group, nothing lost or counted twice.
      const inFlight = admitted(await warden.admit({ ...request, scope: otherKeyScope }));
      expect(await warden.learnOrganization('0123456789abcdef', organization)).toEqual([{ from: otherKeyScope, to: group }]);
      expect(warden.organizations.ownerOf('0123456789abcdef')).toBe(`org:${organization.organization}`);
      expect(await warden.views.currentUsage(group)).toEqual({ tokens: 1150, requests: 4 });
      expect(await warden.views.currentUsage(otherKeyScope)).toEqual({ tokens: 0, requests: 0 });
      await warden.settle(inFlight, { outcome: 'ok', status: 200, usage: { inputTokens: 80, outputTokens: 20 } });
      expect(await warden.views.currentUsage(group)).toEqual({ tokens: 1100, requests: 4 });
      // Learning it again changes nothing.
      expect(await warden.learnOrganization('0123456789abcdef', organization)).toEqual([]);
      expect(await warden.views.currentUsage(group)).toEqual({ tokens: 1100, requests: 4 });

      // The cooling key joins the same group: its own cooldown still refuses it, and only it.
      await warden.learnOrganization('abcdef0123456789', organization);
      expect(await warden.admit({ ...request, scope: group, keyScope })).toMatchObject({ kind: 'rejected', reason: 'cooldown' });
      expect(await warden.admit({ ...request, scope: group, keyScope: otherKeyScope })).toMatchObject({ kind: 'admitted' });
      expect(readRows(dbPath, 'SELECT fingerprint, organization FROM key_organizations ORDER BY fingerprint')).toEqual([
        { fingerprint: '0123456789abcdef', organization: organization.organization },
        { fingerprint: 'abcdef0123456789', organization: organization.organization },
      ]);
    } finally {
      await warden.close();
    }
  });
});
