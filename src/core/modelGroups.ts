import type { FamilyRule } from './scopes.js';

/**
 * The model groups each provider applies its rate limits to, one table per provider, most
 * specific pattern first (globs, `*` any run of characters, matched case-insensitively on the
 * trimmed model name). A model no rule matches is a group of its own. Check them against:
 *
 * - Anthropic, "Rate limits" (platform.claude.com/docs/en/api/rate-limits): limits per
 *   organization × model class, where one class's versions may share one limit ("Claude Opus
 *   4.x (Opus 4.8, 4.7, 4.6, 4.5 combined)", "Claude Sonnet 4.x (Sonnet 4.6 and 4.5
 *   combined)"; earlier: "a total limit that applies to combined traffic across both Opus 4 and
 *   Opus 4.1"), and each newer generation (Opus 5, Opus 5.5, Sonnet 5, …) a limit of its own.
 *   The 4.x groups keep the names `claude-opus`, `claude-sonnet`, `claude-haiku` that scopes had
 *   before groups, so that the state a database holds for them stays in force.
 * - OpenAI, "Rate limits" (developers.openai.com/api/docs/guides/rate-limits): limits per
 *   organization/project × model; the models page lists which snapshots share one limit (a
 *   model's dated snapshots share its limit; a `-mini`/`-nano` model has limits of its own).
 *
 * The configuration's `scope-families` rules are tried before these (gateways, new models).
 */
export const anthropicModelGroups: readonly FamilyRule[] = [
  { pattern: 'claude-opus-5-5*', family: 'claude-opus-5-5' },
  { pattern: 'claude-opus-5*', family: 'claude-opus-5' },
  { pattern: 'claude-sonnet-5-5*', family: 'claude-sonnet-5-5' },
  { pattern: 'claude-sonnet-5*', family: 'claude-sonnet-5' },
  { pattern: 'claude-haiku-5-5*', family: 'claude-haiku-5-5' },
  { pattern: 'claude-haiku-5*', family: 'claude-haiku-5' },
  { pattern: 'claude-fable-5*', family: 'claude-fable-5' },
  { pattern: 'claude-3-5-haiku*', family: 'claude-haiku-3-5' },
  { pattern: 'claude-3-7-sonnet*', family: 'claude-sonnet-3-7' },
  { pattern: 'claude-*opus*', family: 'claude-opus' },
  { pattern: 'claude-*sonnet*', family: 'claude-sonnet' },
  { pattern: 'claude-*haiku*', family: 'claude-haiku' },
];

export const openaiModelGroups: readonly FamilyRule[] = [
  { pattern: 'gpt-4o-mini*', family: 'gpt-4o-mini' },
  { pattern: 'gpt-4o*', family: 'gpt-4o' },
  { pattern: 'gpt-4.1-nano*', family: 'gpt-4.1-nano' },
  { pattern: 'gpt-4.1-mini*', family: 'gpt-4.1-mini' },
  { pattern: 'gpt-4.1*', family: 'gpt-4.1' },
  { pattern: 'gpt-5-nano*', family: 'gpt-5-nano' },
  { pattern: 'gpt-5-mini*', family: 'gpt-5-mini' },
  { pattern: 'gpt-5*', family: 'gpt-5' },
  { pattern: 'o4-mini*', family: 'o4-mini' },
  { pattern: 'o3-mini*', family: 'o3-mini' },
  { pattern: 'o3*', family: 'o3' },
  { pattern: 'o1-mini*', family: 'o1-mini' },
  { pattern: 'o1*', family: 'o1' },
];

/** A model name as the upstream compares it: surrounding blanks dropped, lower case. */
export function normaliseModel(model: string | null): string | null {
  if (model === null) return null;
  const trimmed = model.trim().toLowerCase();
  return trimmed === '' ? null : trimmed;
}
