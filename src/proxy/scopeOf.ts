import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { defaultFamilyRules, familyOf, scopeNameOf, type FamilyRule, type ScopeBy } from '../core/scopes.js';

export interface ScopeSetup {
  /** This database's fingerprint secret (fingerprint_secret). */
  secret: string;
  by: ScopeBy;
  /** The configured model → family rules; the built-in ones are tried after them. */
  families: readonly FamilyRule[];
}

/** Hex characters of the HMAC kept: 64 bits, far beyond any fleet's number of keys. */
const fingerprintLength = 16;

/** The API key a request carries (Anthropic `x-api-key`, OpenAI `Authorization: Bearer`, Azure `api-key`), or null. */
export function apiKeyOf(headers: IncomingHttpHeaders): string | null {
  const direct = headers['x-api-key'] ?? headers['api-key'];
  const value = Array.isArray(direct) ? direct[0] : direct;
  if (value !== undefined && value.trim() !== '') return value.trim();
  const authorization = headers.authorization?.trim();
  if (authorization === undefined || authorization === '') return null;
  const credentials = /^\S+\s+(.+)$/.exec(authorization)?.[1]?.trim();
  return credentials ?? authorization;
}

/**
 * A keyed fingerprint (HMAC-SHA256 under a random secret of this database, truncated): the same
 * key always gives the same scope, and neither the fingerprint nor the database gives the key back.
 */
export function fingerprintOf(key: string, secret: string): string {
  return createHmac('sha256', secret).update(key).digest('hex').slice(0, fingerprintLength);
}

/*
 * A fleet sends a handful of keys, each thousands of times: their fingerprints are remembered
 * rather than an HMAC computed per request. Bounded, so that a client cycling through keys
 * cannot grow it; when full it starts over.
 */
const rememberedFingerprints = 1_024;

/** Builds the function that names a request's scope from its headers and the model it names. */
export function scopeChooser(setup: ScopeSetup): (headers: IncomingHttpHeaders, model: string | null) => string {
  const rules = [...setup.families, ...defaultFamilyRules];
  const needsKey = setup.by === 'key-and-model' || setup.by === 'key';
  const fingerprints = new Map<string, string>();
  const fingerprint = (key: string): string => {
    let known = fingerprints.get(key);
    if (known === undefined) {
      if (fingerprints.size >= rememberedFingerprints) fingerprints.clear();
      known = fingerprintOf(key, setup.secret);
      fingerprints.set(key, known);
    }
    return known;
  };
  return (headers, model) => {
    const key = needsKey ? apiKeyOf(headers) : null;
    return scopeNameOf(key === null ? null : fingerprint(key), familyOf(model, rules), setup.by);
  };
}
