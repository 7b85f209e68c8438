import type { KeyOrganization } from './limitGroups.js';

/**
 * Readable names for scopes in status, calibrate and the metrics: an organization's group is
 * named by its organization id (not a secret: the upstream sends it on every answer) and model
 * group as it is; a key's own scope by the alias the operator gave the key in `key-aliases`
 * (keyed by its fingerprint, or by its last 4 characters as the providers' consoles show them),
 * `<alias>/<model group>`. Never the key.
 */
export type KeyAliases = Readonly<Record<string, string>>;

/** Who is called what: each fingerprint's alias, by fingerprint first, else by the key's last 4 characters learned with its organization. */
export function aliasesByFingerprint(aliases: KeyAliases, organizations: readonly KeyOrganization[]): Map<string, string> {
  const byFingerprint = new Map<string, string>();
  for (const entry of organizations) {
    const alias =
      aliases[entry.fingerprint] ?? (entry.keyHint === null || entry.keyHint === undefined ? undefined : aliases[entry.keyHint]);
    if (alias !== undefined) byFingerprint.set(entry.fingerprint, alias);
  }
  for (const [name, alias] of Object.entries(aliases)) if (/^[0-9a-f]{16}$/.test(name)) byFingerprint.set(name, alias);
  return byFingerprint;
}

/** The scope's readable name: `<alias>/<group>` for an aliased key's scope, the scope itself otherwise. */
export function readableScope(scope: string, aliases: ReadonlyMap<string, string>): string {
  const slash = scope.indexOf('/');
  if (slash < 0) return scope;
  const alias = aliases.get(scope.slice(0, slash));
  return alias === undefined ? scope : `${alias}${scope.slice(slash)}`;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

const aliasText = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** `fingerprint-or-last-4=alias,…` (a flag or an environment variable), or the config file's object. */
export function parseKeyAliases(raw: unknown): Parsed<Record<string, string>> {
  const example = 'write e.g. "3f9a0c2b7d1e4a55=ci-runner,AbCd=laptop" (a key\'s fingerprint from status, or its last 4 characters)';
  const entries: [string, unknown][] =
    typeof raw === 'string'
      ? raw
          .split(',')
          .map((part) => part.trim())
          .filter((part) => part !== '')
          .map((part) => {
            const [name, alias, extra] = part.split('=').map((piece) => piece.trim());
            return [name ?? '', extra === undefined ? alias : undefined];
          })
      : typeof raw === 'object' && raw !== null && !Array.isArray(raw)
        ? Object.entries(raw)
        : [['', undefined]];
  const aliases: Record<string, string> = {};
  for (const [name, alias] of entries) {
    const isKey = /^[0-9a-f]{16}$/.test(name) || /^\S{4}$/.test(name);
    if (!isKey || typeof alias !== 'string' || !aliasText.test(alias))
      return { ok: false, problem: `"${name}=${String(alias)}" is not fingerprint-or-last-4=alias; ${example}` };
    aliases[name] = alias;
  }
  return { ok: true, value: aliases };
}
