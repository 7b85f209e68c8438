import { describe, expect, it } from 'vitest';
import { coolAlongside, dailyRefusal, dayMs, hourMs, hourStartFor, oldestHourInDay } from '../../../src/core/daily.js';
import {
  defaultFamilyRules,
  familyOf,
  globMatches,
  keyOfScope,
  parseFamilyRules,
  parseScopeBudgetRules,
  policyForScope,
  scopeNameOf,
} from '../../../src/core/scopes.js';
import { defaultLimiterPolicy, initialLimiterState } from '../../../src/core/types.js';

describe('model families', () => {
  it.each([
    ['claude-opus-4-1-20250805', 'claude-opus'],
    ['claude-3-opus-20240229', 'claude-opus'],
    ['claude-sonnet-4-5', 'claude-sonnet'],
    ['claude-3-7-sonnet-latest', 'claude-sonnet-3-7'],
    ['claude-3-5-haiku-latest', 'claude-haiku-3-5'],
    ['claude-haiku-4-5', 'claude-haiku'],
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['gpt-4o-mini', 'gpt-4o-mini'],
    ['gpt-4.1', 'gpt-4.1'],
    ['gpt-4.1-mini-2025-04-14', 'gpt-4.1-mini'],
    ['o3-2025-04-16', 'o3'],
    ['o3-mini', 'o3-mini'],
    ['o4-mini', 'o4-mini'],
    ['GPT-5', 'gpt-5'],
    ['text-embedding-3-small', 'text-embedding-3-small'],
    ['Llama 3/70B', 'llama-3-70b'],
  ])('%s is in the family %s', (model, family) => {
    expect(familyOf(model, defaultFamilyRules)).toBe(family);
  });

  it('a request without a model has no family; configured rules come before the built-in ones', () => {
    expect(familyOf(null, defaultFamilyRules)).toBeNull();
    expect(familyOf('  ', defaultFamilyRules)).toBeNull();
    const rules = parseFamilyRules('claude-opus-4*=opus-4, my-*=mine');
    expect(rules.ok).toBe(true);
    const configured = [...(rules.ok ? rules.value : []), ...defaultFamilyRules];
    expect(familyOf('claude-opus-4-1', configured)).toBe('opus-4');
    expect(familyOf('claude-3-opus', configured)).toBe('claude-opus');
    expect(familyOf('my-model', configured)).toBe('mine');
  });

  it('globs match whole names, case-insensitively', () => {
    expect(globMatches('claude-*haiku*', 'Claude-3-5-Haiku-latest')).toBe(true);
    expect(globMatches('gpt-4o', 'gpt-4o-mini')).toBe(false);
    expect(globMatches('*/claude-opus', 'abc/claude-opus')).toBe(true);
    expect(globMatches('a*b*c', 'abc')).toBe(true);
    expect(globMatches('a*b*c', 'acb')).toBe(false);
    expect(globMatches('ab*ba', 'aba')).toBe(false);
  });
});

describe('scope names', () => {
  it('combine the key fingerprint and the family as --scope-by says; neither gives default', () => {
    expect(scopeNameOf('f00d', 'claude-opus', 'key-and-model')).toBe('f00d/claude-opus');
    expect(scopeNameOf(null, 'claude-opus', 'key-and-model')).toBe('nokey/claude-opus');
    expect(scopeNameOf('f00d', null, 'key-and-model')).toBe('f00d/default');
    expect(scopeNameOf(null, null, 'key-and-model')).toBe('default');
    expect(scopeNameOf('f00d', 'claude-opus', 'key')).toBe('f00d/default');
    expect(scopeNameOf('f00d', 'claude-opus', 'model')).toBe('nokey/claude-opus');
    expect(scopeNameOf('f00d', 'claude-opus', 'none')).toBe('default');
    expect(keyOfScope('f00d/claude-opus')).toBe('f00d');
    expect(keyOfScope('nokey/claude-opus')).toBeNull();
    expect(keyOfScope('default')).toBeNull();
  });
});

describe('per-scope budgets', () => {
  it('the first matching pattern sets the limits it names over the base policy', () => {
    const parsed = parseScopeBudgetRules('*/claude-opus=tokens:400000,requests:50; */claude-*=daily-requests:1000,requests:none');
    expect(parsed.ok).toBe(true);
    const rules = parsed.ok ? parsed.value : [];
    const base = { ...defaultLimiterPolicy, requestBudget: 10 };
    expect(policyForScope(base, 'f00d/claude-opus', rules)).toMatchObject({
      tokenBudget: 400_000,
      requestBudget: 50,
      dailyRequestBudget: null,
    });
    expect(policyForScope(base, 'f00d/claude-haiku', rules)).toMatchObject({
      tokenBudget: null,
      requestBudget: null,
      dailyRequestBudget: 1000,
    });
    expect(policyForScope(base, 'default', rules)).toBe(base);
  });

  it('a malformed rule is refused with the fix', () => {
    expect(parseScopeBudgetRules('*/claude-opus=tokens:-1')).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/tokens\|requests\|daily-tokens\|daily-requests:<count>; write e\.g\./),
    });
    expect(parseScopeBudgetRules('claude-opus')).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/is not scope-pattern=limits/),
    });
    expect(parseFamilyRules('a=b=c')).toMatchObject({ ok: false, problem: expect.stringMatching(/is not pattern=family/) });
  });
});

describe('the daily window', () => {
  const policy = { dailyTokenBudget: 1_000, dailyRequestBudget: 3, tokenMetric: 'total' as const };
  const now = 10 * dayMs + 5 * hourMs + 1_234;

  it('spans 24 hourly rows ending in the current hour', () => {
    expect(hourStartFor(now)).toBe(10 * dayMs + 5 * hourMs);
    expect(oldestHourInDay(now)).toBe(9 * dayMs + 6 * hourMs);
  });

  it('refuses past a daily budget until the oldest hour leaves the day', () => {
    const day = { start: oldestHourInDay(now) + 2 * hourMs, inputTokens: 600, outputTokens: 300, requests: 2 };
    expect(dailyRefusal(day, { inputTokens: 50, outputTokens: 50 }, now, policy)).toBeNull();
    expect(dailyRefusal(day, { inputTokens: 100, outputTokens: 50 }, now, policy)).toMatchObject({
      retryAfterMs: day.start + dayMs - now,
      message: expect.stringMatching(/daily token budget/),
    });
    expect(dailyRefusal({ ...day, requests: 3 }, { inputTokens: 1, outputTokens: 1 }, now, policy)?.message).toMatch(
      /daily request budget/,
    );
    // An empty day admits a request larger than the whole budget, like the window.
    expect(
      dailyRefusal({ start: now, inputTokens: 0, outputTokens: 0, requests: 0 }, { inputTokens: 5_000, outputTokens: 0 }, now, policy),
    ).toBeNull();
    expect(
      dailyRefusal(day, { inputTokens: 5_000, outputTokens: 0 }, now, { ...policy, dailyTokenBudget: null, dailyRequestBudget: null }),
    ).toBeNull();
  });
});

describe('cooling alongside', () => {
  it('lengthens a cooldown to the shared end, never shortens one, and keeps the ladder', () => {
    const cooled = coolAlongside({ ...initialLimiterState, probeRequestId: 4, probeStartedAt: 1 }, 5_000, 0, 1_000);
    expect(cooled).toMatchObject({ cooldownStartedAt: 1_000, cooldownUntil: 5_000, probeRequestId: null, backoffLevel: 0 });
    const longer = { ...initialLimiterState, cooldownStartedAt: 500, cooldownUntil: 9_000, backoffLevel: 2 };
    expect(coolAlongside(longer, 5_000, 0, 1_000)).toBe(longer);
    expect(coolAlongside({ ...longer, cooldownUntil: 2_000 }, 5_000, 1, 1_000)).toMatchObject({
      cooldownStartedAt: 500,
      cooldownUntil: 5_000,
      backoffLevel: 2,
    });
  });
});
