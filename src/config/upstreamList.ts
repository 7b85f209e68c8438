import { httpUrl, type Field } from './fields.js';

/** The providers an upstream may be named for; `generic` serves requests of neither API. */
export const upstreamProviders = ['anthropic', 'openai', 'generic'] as const;
export type UpstreamProvider = (typeof upstreamProviders)[number];

/** One configured upstream: `provider` null for the single unnamed URL that serves everything. */
export interface UpstreamEntry {
  provider: UpstreamProvider | null;
  url: string;
}

const oneUrl = httpUrl('');

/**
 * Reads `--upstream`: one URL (every request goes there, today's meaning), or one URL per provider,
 * `anthropic=https://api.anthropic.com,openai=https://api.openai.com` (repeated flags are joined
 * the same way). Throws an Error with the one-line problem.
 */
export function parseUpstreamList(text: string): UpstreamEntry[] {
  const parts = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (parts.length === 0) throw new Error('no URL given');
  const entries = parts.map((part): UpstreamEntry => {
    const named = /^([a-z]+)=(.*)$/i.exec(part);
    const provider = named === null ? null : (named[1] as string).toLowerCase();
    if (provider !== null && !(upstreamProviders as readonly string[]).includes(provider)) {
      throw new Error(`"${provider}" is not a provider; name each URL anthropic=, openai= or generic=`);
    }
    const parsed = oneUrl.parse(named === null ? part : named[2]);
    if (!parsed.ok)
      throw new Error(parsed.problem ?? `${named === null ? 'a part' : `the ${provider} URL`} is not an http:// or https:// URL`);
    return { provider: provider as UpstreamProvider | null, url: parsed.value as string };
  });
  if (entries.length > 1 && entries.some((entry) => entry.provider === null)) {
    throw new Error('with several upstreams, name each one: anthropic=https://api.anthropic.com,openai=https://api.openai.com');
  }
  const seen = new Set<string>();
  for (const entry of entries) {
    if (entry.provider !== null && seen.has(entry.provider)) throw new Error(`${entry.provider} is named twice; give one URL per provider`);
    if (entry.provider !== null) seen.add(entry.provider);
  }
  return entries;
}

/** The `--upstream` setting: kept as text, normalised, so that every command and the unit file show it as given. */
export function upstreamList(describe: string): Field<string | null> {
  return {
    expected: 'an http:// or https:// URL, or provider=URL pairs',
    example: 'use e.g. https://api.anthropic.com, or anthropic=https://api.anthropic.com,openai=https://api.openai.com',
    describe,
    default: null,
    placeholder: '<url|provider=url,…>',
    allowed:
      'a URL, e.g. https://api.anthropic.com, or one URL per provider as anthropic=URL, openai=URL, generic=URL, comma-separated or the flag repeated',
    defaultHelp: 'none; run needs one',
    parse(raw) {
      if (typeof raw !== 'string') return { ok: false };
      try {
        const entries = parseUpstreamList(raw);
        return {
          ok: true,
          value: entries.map((entry) => (entry.provider === null ? entry.url : `${entry.provider}=${entry.url}`)).join(','),
        };
      } catch (error) {
        return { ok: false, problem: (error as Error).message };
      }
    },
  };
}
