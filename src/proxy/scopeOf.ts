import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { groupScopeOf } from '../core/limitGroups.js';
import { defaultFamilyRules, familyOf, scopeNameOf, type FamilyRule, type ScopeBy } from '../core/scopes.js';
import { remembered } from '../kernel/remembered.js';
import type { ProviderName } from './providers/types.js';

export interface ScopeSetup {
  /** This database's fingerprint secret (fingerprint_secret). */
  secret: string;
  by: ScopeBy;
  /** The configured model → family rules; the built-in ones are tried after them. */
  families: readonly FamilyRule[];
  /** The learned organizations (`--scope-by group`): a key's group owner, or null while unknown. */
  ownerOf?: (fingerprint: string) => string | null;
}

/** Where a request counts: its scope, and its key's own scope when that differs (the key is in an organization's group). */
export interface RequestScope {
  scope: string;
  keyScope: string | null;
  /** The key's fingerprint (null without a key, or when the scope does not look at keys). */
  fingerprint: string | null;
  /** Whether the answers' organization headers are learned for this key (`--scope-by group`). */
  learnsOrganization: boolean;
  /** The key's last 4 characters, kept with its organization for the operator's key aliases. */
  keyHint: string | null;
}

/** Hex characters of the HMAC kept: 64 bits, far beyond any fleet's number of keys. */
const fingerprintLength = 16;

function headerText(headers: IncomingHttpHeaders, name: string): string | null {
  const raw = headers[name];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  return value === undefined || value === '' ? null : value;
}

function bearerOf(headers: IncomingHttpHeaders): string | null {
  const authorization = headerText(headers, 'authorization');
  if (authorization === null) return null;
  return /^\S+\s+(.+)$/.exec(authorization)?.[1]?.trim() ?? authorization;
}

/**
 * The credential the upstream will authenticate the request with, by provider, so that a
 * client cannot escape its key's cooldown by adding a header the upstream ignores: Anthropic
 * reads `x-api-key` (else `Authorization: Bearer`, as its OAuth clients send); OpenAI
 * `Authorization: Bearer` (else Azure's `api-key`); any other upstream `Authorization`, then
 * `x-api-key`, then `api-key`.
 */
export function apiKeyOf(headers: IncomingHttpHeaders, provider: ProviderName = 'generic'): string | null {
  if (provider === 'anthropic') return headerText(headers, 'x-api-key') ?? bearerOf(headers);
  if (provider === 'openai') return bearerOf(headers) ?? headerText(headers, 'api-key');
  return bearerOf(headers) ?? headerText(headers, 'x-api-key') ?? headerText(headers, 'api-key');
}

/**
 * A keyed fingerprint (HMAC-SHA256 under a random secret of this database, truncated): the same
 * key always gives the same scope, and neither the fingerprint nor the database gives the key back.
 */
export function fingerprintOf(key: string, secret: string): string {
  return createHmac('sha256', secret).update(key).digest('hex').slice(0, fingerprintLength);
}

/*
 * A fleet sends a handful of keys and models, each thousands of times: their fingerprints and
 * families are remembered rather than an HMAC computed and every family rule matched per
 * request. Bounded, so that a client cycling through keys or model names cannot grow them.
 */
const rememberedPerKind = 1_024;

/** Builds the function that names a request's scope from its headers, the model it names and its provider. */
export function scopeChooser(
  setup: ScopeSetup,
): (headers: IncomingHttpHeaders, model: string | null, provider?: ProviderName) => RequestScope {
  const rules = [...setup.families, ...defaultFamilyRules];
  const needsKey = setup.by === 'group' || setup.by === 'key-and-model' || setup.by === 'key';
  const fingerprint = remembered(rememberedPerKind, (key: string) => fingerprintOf(key, setup.secret));
  const family = remembered(rememberedPerKind, (model: string) => familyOf(model, rules));
  return (headers, model, provider) => {
    const key = needsKey ? apiKeyOf(headers, provider) : null;
    const print = key === null ? null : fingerprint(key);
    const keyScope = scopeNameOf(print, model === null ? null : family(model), setup.by);
    const learnsOrganization = setup.by === 'group' && print !== null;
    const owner = learnsOrganization && print !== null ? (setup.ownerOf?.(print) ?? null) : null;
    const keyHint = key === null || key.length < 12 ? null : key.slice(-4);
    if (owner === null) return { scope: keyScope, keyScope: null, fingerprint: print, learnsOrganization, keyHint };
    return { scope: groupScopeOf(owner, keyScope), keyScope, fingerprint: print, learnsOrganization, keyHint };
  };
}
