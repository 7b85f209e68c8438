import { describe, expect, it } from 'vitest';
import {
  inLockOrder,
  cooldownCovers,
  groupScopeOf,
  organizationOf,
  organizationOfScope,
  ownerOf,
  reportsForGroup,
} from '../../../src/core/limitGroups.js';
import { anthropicModelGroups, normaliseModel, openaiModelGroups } from '../../../src/core/modelGroups.js';
import { familyOf } from '../../../src/core/scopes.js';
import { quotaAfterSettle, quotaRefusal, stopForQuota } from '../../../src/core/quota.js';
import { stateWith } from '../../helpers/limiterFixtures.js';

const headers = (values: Record<string, string>) => (name: string) => values[name];

describe("limit groups: a key is its organization's once the upstream names it", () => {
  it('reads the organization the way each provider names it', () => {
    expect(organizationOf('anthropic', headers({ 'anthropic-organization-id': 'c0ffee00-1111-2222-3333-444455556666' }))).toEqual({
      provider: 'anthropic',
      organization: 'c0ffee00-1111-2222-3333-444455556666',
      project: null,
    });
    expect(organizationOf('openai', headers({ 'openai-organization': 'org-abc', 'openai-project': 'proj_1' }))).toEqual({
      provider: 'openai',
      organization: 'org-abc',
      project: 'proj_1',
    });
    expect(organizationOf('openai', headers({ 'openai-organization': 'org-abc' }))?.project).toBeNull();
    // What is not an id is not taken for one; a generic upstream names none.
    expect(organizationOf('anthropic', headers({ 'anthropic-organization-id': 'a/b c' }))).toBeNull();
    expect(organizationOf('anthropic', headers({}))).toBeNull();
    expect(organizationOf('generic', headers({ 'openai-organization': 'org-abc' }))).toBeNull();
  });

  it('names groups by organization (and project) × model group, never by key', () => {
    const owner = ownerOf({ provider: 'openai', organization: 'org-abc', project: 'proj_1' });
    expect(owner).toBe('org:org-abc:proj_1');
    expect(groupScopeOf(owner, '0123456789abcdef/gpt-4o')).toBe('org:org-abc:proj_1/gpt-4o');
    expect(groupScopeOf('org:x', '0123456789abcdef/default')).toBe('org:x/default');
    expect(organizationOfScope('org:org-abc:proj_1/gpt-4o')).toBe('org-abc:proj_1');
    expect(organizationOfScope('0123456789abcdef/gpt-4o')).toBeNull();
  });

  it("a report below the group's known limit is the key's own (a workspace's); it stays out of the group", () => {
    const group = [{ dimension: 'requests', limit: 4_000 }];
    const workspace = { dimension: 'requests', limit: 100 };
    const organization = { dimension: 'requests', limit: 4_000 };
    const fresh = { dimension: 'input-tokens', limit: 10_000 };
    expect(reportsForGroup([workspace, fresh], group)).toEqual([fresh]);
    expect(reportsForGroup([organization], group)).toEqual([organization]);
    expect(reportsForGroup([workspace], [])).toEqual([workspace]);
  });

  it("a cooldown covers the limit that ran out: the key's own limit cools the key, the organization's the group", () => {
    const group = [
      { dimension: 'requests', limit: 4_000 },
      { dimension: 'output-tokens', limit: 80_000 },
    ];
    expect(cooldownCovers([{ dimension: 'requests', limit: 100 }], group)).toBe('key');
    expect(cooldownCovers([{ dimension: 'requests', limit: 4_000 }], group)).toBe('group');
    expect(
      cooldownCovers(
        [
          { dimension: 'requests', limit: 100 },
          { dimension: 'output-tokens', limit: 80_000 },
        ],
        group,
      ),
    ).toBe('group');
    // Headers that show nothing exhausted: the group's limit is the suspect.
    expect(cooldownCovers([], group)).toBe('group');
  });
});

describe('model groups, one table per provider', () => {
  it.each([
    ['claude-opus-4-5-20251101', 'claude-opus'],
    ['claude-opus-4-1', 'claude-opus'],
    ['claude-opus-5', 'claude-opus-5'],
    ['claude-opus-5-5', 'claude-opus-5-5'],
    ['claude-sonnet-4-6', 'claude-sonnet'],
    ['claude-sonnet-5', 'claude-sonnet-5'],
    ['claude-haiku-4-5-20251001', 'claude-haiku'],
    ['claude-3-5-haiku-20241022', 'claude-haiku-3-5'],
  ])('Anthropic: %s is limited with %s', (model, group) => {
    expect(familyOf(model, anthropicModelGroups)).toBe(group);
  });

  it.each([
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
    ['gpt-5-mini', 'gpt-5-mini'],
  ])('OpenAI: %s is limited with %s', (model, group) => {
    expect(familyOf(model, openaiModelGroups)).toBe(group);
  });

  it('normalises model names before grouping: blanks around and case do not make a new group', () => {
    expect(normaliseModel('  Claude-Sonnet-4-5 ')).toBe('claude-sonnet-4-5');
    expect(normaliseModel('   ')).toBeNull();
    expect(familyOf(' CLAUDE-SONNET-4-5\t', anthropicModelGroups)).toBe('claude-sonnet');
    expect(familyOf(' My-Model ', [])).toBe('my-model');
  });
});

describe('quota is not a rate limit', () => {
  const now = 1_000_000;
  it('stops the group until a rare probe, without climbing the ladder or touching the budgets', () => {
    const before = stateWith({ backoffLevel: 2, consecutive429s: 1, tokenBudget: 50_000, requestBudget: 40 });
    const stopped = stopForQuota(before, now, 60_000);
    expect(stopped).toMatchObject({
      quotaSince: now,
      cooldownUntil: now + 60_000,
      backoffLevel: 2,
      consecutive429s: 1,
      tokenBudget: 50_000,
      requestBudget: 40,
      probeRequestId: null,
    });
    // A refused probe keeps the first stop's start.
    expect(stopForQuota(stopped, now + 60_000, 60_000).quotaSince).toBe(now);
  });

  it('names its refusals `quota`; other refusals and admissions pass unchanged', () => {
    const stopped = stopForQuota(stateWith(), now, 60_000);
    const cooling = { kind: 'reject', reason: 'cooldown', retryAfterMs: 60_000, message: 'cooling' } as const;
    const refusal = quotaRefusal(stopped, cooling);
    expect(refusal).toMatchObject({ kind: 'reject', reason: 'quota', retryAfterMs: 60_000 });
    expect(refusal.kind === 'reject' ? refusal.message : '').toMatch(/quota or spend limit.*not a rate limit/);
    expect(quotaRefusal(stateWith(), cooling)).toBe(cooling);
    const budget = { kind: 'reject', reason: 'budget', retryAfterMs: 5, message: 'budget' } as const;
    expect(quotaRefusal(stopped, budget)).toBe(budget);
  });

  it('ends once the probe was served (the cooldown cleared), not before', () => {
    const stopped = stopForQuota(stateWith(), now, 60_000);
    expect(quotaAfterSettle(stopped).quotaSince).toBe(now);
    expect(quotaAfterSettle({ ...stopped, cooldownUntil: null, cooldownStartedAt: null }).quotaSince).toBeNull();
  });
});

describe('the order a transaction locks several scopes in', () => {
  it("takes the groups first, then the keys' own scopes, each by name, as every event takes a group before a key in it", () => {
    const scopes = ['kb/claude-haiku', 'org:b/claude-sonnet', 'default', 'ka/claude-sonnet', 'org:a/claude-sonnet', 'org:a:p/gpt-4o'];
    expect(inLockOrder(scopes)).toEqual([
      'org:a/claude-sonnet',
      'org:a:p/gpt-4o',
      'org:b/claude-sonnet',
      'default',
      'ka/claude-sonnet',
      'kb/claude-haiku',
    ]);
    expect(inLockOrder(new Set(['ka/x', 'org:z/x']))).toEqual(['org:z/x', 'ka/x']);
  });
});
