import { anthropicModelGroups, normaliseModel, openaiModelGroups } from './modelGroups.js';
import type { LimiterPolicy } from './types.js';

/**
 * Scopes: what one upstream limit applies to. By default the limit group the upstream applies
 * (limitGroups.ts): the key's organization × the model's group, `org:<id>/<group>`, and until
 * the organization is known the key (by its fingerprint) × the group, `<fingerprint>/<group>`,
 * the name scopes had before groups; a request that names neither is in `default`, the scope a
 * database from before scopes keeps its state in.
 */
export const defaultScope = 'default';

/**
 * What a scope is made of: `group` the upstream's limit group (organization × model group,
 * learned), `key-and-model` the key × model group whatever its organization, `none` one scope
 * for everything (the behaviour before scopes).
 */
export type ScopeBy = 'group' | 'key-and-model' | 'key' | 'model' | 'none';
export const scopeByValues: readonly ScopeBy[] = ['group', 'key-and-model', 'key', 'model', 'none'];

/** One entry of the model → family mapping: a glob (`*` any run of characters) on the model name. */
export interface FamilyRule {
  pattern: string;
  family: string;
}

/** Every provider's table (modelGroups.ts), Anthropic's first: a model is matched against both when its provider is not known. */
export const defaultFamilyRules: readonly FamilyRule[] = [...anthropicModelGroups, ...openaiModelGroups];

/** Per-scope limits the configuration sets for the scopes a glob on the scope name matches. */
export interface ScopeBudgetRule {
  pattern: string;
  tokenBudget?: number | null;
  requestBudget?: number | null;
  dailyTokenBudget?: number | null;
  dailyRequestBudget?: number | null;
}

const familyText = /^[a-z0-9][a-z0-9._:-]{0,63}$/;

/** A glob of `*` wildcards, matched whole, case-insensitively. */
export function globMatches(pattern: string, text: string): boolean {
  const parts = pattern.toLowerCase().split('*');
  const subject = text.toLowerCase();
  const first = parts[0] as string;
  if (!subject.startsWith(first)) return false;
  if (parts.length === 1) return subject === first;
  let at = first.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const found = subject.indexOf(parts[i] as string, at);
    if (found < 0) return false;
    at = found + (parts[i] as string).length;
  }
  const last = parts[parts.length - 1] as string;
  return subject.length - last.length >= at && subject.endsWith(last);
}

/** The family of a model: the first rule that matches, else the model's own (normalised) name. */
export function familyOf(model: string | null, rules: readonly FamilyRule[]): string | null {
  const name = normaliseModel(model);
  if (name === null) return null;
  for (const rule of rules) if (globMatches(rule.pattern, name)) return rule.family;
  const own = name.replace(/[^a-z0-9._:-]/g, '-').slice(0, 64);
  return familyText.test(own) ? own : null;
}

/** The scope name of a request from its key's fingerprint and its model's family. */
export function scopeNameOf(fingerprint: string | null, family: string | null, by: ScopeBy): string {
  const key = by === 'group' || by === 'key-and-model' || by === 'key' ? fingerprint : null;
  const model = by === 'group' || by === 'key-and-model' || by === 'model' ? family : null;
  if (key === null && model === null) return defaultScope;
  return `${key ?? 'nokey'}/${model ?? defaultScope}`;
}

/** The key part of a scope name (its fingerprint), or null for `default` and keyless scopes. */
export function keyOfScope(scope: string): string | null {
  const slash = scope.indexOf('/');
  if (slash < 0) return null;
  const key = scope.slice(0, slash);
  return key === 'nokey' ? null : key;
}

/** The policy one scope runs with: the base policy, with the first matching rule's limits over it. */
export function policyForScope(base: LimiterPolicy, scope: string, rules: readonly ScopeBudgetRule[]): LimiterPolicy {
  const rule = rules.find((candidate) => globMatches(candidate.pattern, scope));
  if (rule === undefined) return base;
  return {
    ...base,
    tokenBudget: rule.tokenBudget !== undefined ? rule.tokenBudget : base.tokenBudget,
    requestBudget: rule.requestBudget !== undefined ? rule.requestBudget : base.requestBudget,
    dailyTokenBudget: rule.dailyTokenBudget !== undefined ? rule.dailyTokenBudget : base.dailyTokenBudget,
    dailyRequestBudget: rule.dailyRequestBudget !== undefined ? rule.dailyRequestBudget : base.dailyRequestBudget,
  };
}

type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/** `pattern=family,pattern=family` (as in a flag or an environment variable). */
export function parseFamilyRules(text: string): Parsed<FamilyRule[]> {
  const rules: FamilyRule[] = [];
  for (const entry of text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')) {
    const [pattern, family, extra] = entry.split('=').map((part) => part.trim());
    if (pattern === undefined || pattern === '' || family === undefined || extra !== undefined || !familyText.test(family.toLowerCase())) {
      return {
        ok: false,
        problem: `"${entry}" is not pattern=family; write e.g. "my-model-*=mine,llama-3*=llama-3" (a family: letters, digits, . _ : -)`,
      };
    }
    rules.push({ pattern, family: family.toLowerCase() });
  }
  return { ok: true, value: rules };
}

const budgetKeys = {
  tokens: 'tokenBudget',
  requests: 'requestBudget',
  'daily-tokens': 'dailyTokenBudget',
  'daily-requests': 'dailyRequestBudget',
} as const;

/** `scope-pattern=tokens:N,requests:N,daily-tokens:N,daily-requests:N; next-pattern=…` (`none` clears one). */
export function parseScopeBudgetRules(text: string): Parsed<ScopeBudgetRule[]> {
  const rules: ScopeBudgetRule[] = [];
  const example = 'write e.g. "*/claude-opus=tokens:400000,requests:50; */claude-haiku=daily-requests:10000"';
  for (const entry of text
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part !== '')) {
    const equals = entry.indexOf('=');
    const pattern = equals < 0 ? '' : entry.slice(0, equals).trim();
    if (pattern === '') return { ok: false, problem: `"${entry}" is not scope-pattern=limits; ${example}` };
    const rule: ScopeBudgetRule = { pattern };
    for (const limit of entry
      .slice(equals + 1)
      .split(',')
      .map((part) => part.trim())) {
      const [name, value, extra] = limit.split(':').map((part) => part.trim());
      const key = budgetKeys[name as keyof typeof budgetKeys] as (typeof budgetKeys)[keyof typeof budgetKeys] | undefined;
      const count = value === 'none' ? null : Number(value);
      if (key === undefined || extra !== undefined || (count !== null && (!Number.isSafeInteger(count) || count <= 0))) {
        return { ok: false, problem: `"${limit}" in "${entry}" is not tokens|requests|daily-tokens|daily-requests:<count>; ${example}` };
      }
      rule[key] = count;
    }
    rules.push(rule);
  }
  return { ok: true, value: rules };
}
