import type { ProviderName } from './types.js';

function hostIsUnder(hostname: string, domain: string): boolean {
  return hostname === domain || hostname.endsWith(`.${domain}`);
}

export function detectProvider(upstream: URL, configured: 'auto' | ProviderName): ProviderName {
  if (configured !== 'auto') return configured;
  // A trailing dot is a legal fully-qualified spelling of the same host.
  const hostname = upstream.hostname.toLowerCase().replace(/\.$/, '');
  if (hostIsUnder(hostname, 'anthropic.com')) return 'anthropic';
  if (hostIsUnder(hostname, 'openai.com')) return 'openai';
  return 'generic';
}
