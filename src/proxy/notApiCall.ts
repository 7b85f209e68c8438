import type { ExchangeRecorder } from './forward.js';

/*
 * Clients check that a base URL answers before they call it (Claude Code sends `HEAD /`); browsers
 * ask for `/favicon.ico`. Such requests are no API call: forwarded, so that the check sees the
 * upstream's own answer, but never counted against a scope and never the cause of a cooldown.
 */
const PROBE_METHODS = new Set(['HEAD', 'OPTIONS']);
const NON_API_PATHS = new Set(['/', '/v1', '/favicon.ico', '/robots.txt']);

/** Whether a request is an API call that counts: HEAD, OPTIONS and a GET of the root or a browser's side request do not. */
export function isApiCall(method: string, path: string): boolean {
  if (PROBE_METHODS.has(method.toUpperCase())) return false;
  const trimmed = path.length > 1 ? path.replace(/\/+$/, '') : path;
  return !NON_API_PATHS.has(trimmed === '' ? '/' : trimmed);
}

/** The outcome of a request that is not an API call is nobody's business: nothing is recorded, a 429 included. */
export const unrecordedExchange: ExchangeRecorder = {
  rateLimited: () => Promise.resolve(),
  headArrived: () => undefined,
  answered: () => undefined,
  cutShort: () => undefined,
  failed: () => undefined,
};
