import type { IncomingHttpHeaders } from 'node:http';
import { firstValue } from './headerValues.js';
import type { ProviderName } from './types.js';

/** What a request asks the upstream to spend: generated tokens, input tokens only, or none. */
export type EndpointKind = 'generation' | 'embedding' | 'no-tokens';

/** The parts of a request its provider is told from: never the body, which is not read yet. */
export interface RequestShape {
  /** Without the query string. */
  path: string;
  headers: IncomingHttpHeaders;
}

export interface ProviderChoice {
  provider: ProviderName;
  endpoint: EndpointKind;
}

interface PathRule {
  pattern: RegExp;
  /** Null: the path is shared by both APIs (`/v1/models`); the headers decide. */
  provider: ProviderName | null;
  endpoint: EndpointKind;
}

/*
 * Matched against the end of the path, so that a gateway's prefix (`/openai/deployments/x`,
 * `/anthropic`) and a base URL with or without `/v1` are recognised alike. The OpenAI
 * Assistants API also has a `…/threads/{id}/messages`, which is not Anthropic's Messages API.
 */
const PATH_RULES: readonly PathRule[] = [
  { pattern: /\/messages\/count_tokens$/, provider: 'anthropic', endpoint: 'no-tokens' },
  { pattern: /^(?!.*\/threads\/).*\/messages$/, provider: 'anthropic', endpoint: 'generation' },
  { pattern: /\/(?:chat\/)?completions$/, provider: 'openai', endpoint: 'generation' },
  { pattern: /\/responses$/, provider: 'openai', endpoint: 'generation' },
  { pattern: /\/embeddings$/, provider: 'openai', endpoint: 'embedding' },
  { pattern: /\/models(?:\/[^/]+)?$/, provider: null, endpoint: 'no-tokens' },
];

function hostIsUnder(hostname: string, domain: string): boolean {
  return hostname === domain || hostname.endsWith(`.${domain}`);
}

/** The provider an upstream's host names, for a request whose shape names none. */
export function providerOfHost(upstream: URL): ProviderName {
  // A trailing dot is a legal fully-qualified spelling of the same host.
  const hostname = upstream.hostname.toLowerCase().replace(/\.$/, '');
  if (hostIsUnder(hostname, 'anthropic.com')) return 'anthropic';
  if (hostIsUnder(hostname, 'openai.com')) return 'openai';
  return 'generic';
}

function hasBearer(headers: IncomingHttpHeaders): boolean {
  return /^bearer\s/i.test(firstValue(headers.authorization) ?? '');
}

/**
 * A path both APIs share: Anthropic's SDK always sends `anthropic-version` and authenticates with
 * `x-api-key`; OpenAI's authenticates with `Authorization: Bearer`.
 */
function providerOfSharedPath(headers: IncomingHttpHeaders): ProviderName | null {
  if (firstValue(headers['anthropic-version']) !== undefined) return 'anthropic';
  const apiKey = firstValue(headers['x-api-key']) !== undefined;
  const bearer = hasBearer(headers);
  if (apiKey && !bearer) return 'anthropic';
  if (bearer && !apiKey) return 'openai';
  return null;
}

function endpointOf(path: string): PathRule | undefined {
  const trimmed = path.replace(/\/+$/, '');
  return PATH_RULES.find((rule) => rule.pattern.test(trimmed));
}

/**
 * In `auto`, the provider is told from the request itself, so that an Anthropic- or
 * OpenAI-compatible gateway on any host is read in its own shape: the path first (it fixes the
 * answer's shape), then the headers, and only then the upstream's host. A configured provider
 * is obeyed; the path still says what the request spends.
 */
export function chooseProvider(request: RequestShape, upstream: URL, configured: 'auto' | ProviderName): ProviderChoice {
  const rule = endpointOf(request.path);
  const endpoint = rule?.endpoint ?? 'generation';
  if (configured !== 'auto') return { provider: configured, endpoint };
  if (rule?.provider) return { provider: rule.provider, endpoint };
  // On a path no API claims, only Anthropic's own version header is specific enough to go by.
  const fromHeaders = rule
    ? providerOfSharedPath(request.headers)
    : firstValue(request.headers['anthropic-version']) !== undefined
      ? 'anthropic'
      : null;
  return { provider: fromHeaders ?? providerOfHost(upstream), endpoint };
}
