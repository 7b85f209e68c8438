import type { IncomingHttpHeaders } from 'node:http';
import type { Dimension, Report } from '../../core/reported.js';
import { reportsFrom } from '../reportedLimits.js';
import { chooseProvider, type EndpointKind, type RequestShape } from './detect.js';
import { localErrorBody, type LocalErrorKind } from './errorBodies.js';
import { shapeRequest, type RequestShape as AdmissionShape } from './estimate.js';
import { readReportedLimits as readLimitHeaders } from './rateLimitHeaders.js';
import type { ProviderName, ReportedLimits } from './types.js';
import { createUsageTap, type UsageTap } from './usageTap.js';

/**
 * Everything that differs between providers, chosen once per request: the modules that read
 * usage, limits and estimates, or answer locally, ask the adapter instead of switching on a name.
 */
export interface ProviderAdapter {
  readonly name: ProviderName;
  readonly endpoint: EndpointKind;
  /** Reads the usage from a copy of the answer's bytes. */
  usageTap(answer: { contentType: string | undefined; contentEncoding: string | undefined }): UsageTap;
  /** Every rate-limit header family the answer carries; the provider's own wins where both speak. */
  readLimits(headers: IncomingHttpHeaders, now: number): ReportedLimits;
  /**
   * What the answer says is left of each limit, each read with its own header family's rounding:
   * Anthropic's token counts are rounded to the thousand whatever the request's shape.
   */
  readReports(headers: IncomingHttpHeaders, now: number): Report[];
  errorBody(kind: LocalErrorKind, message: string): string;
  /** What admission needs to know of a request with this path and body: input, model, whether it generates. */
  shape(path: string, body: Buffer): AdmissionShape;
}

/** How each family's rate-limit header names begin. */
const HEADER_FAMILIES: readonly { family: ProviderName; prefix: string }[] = [
  { family: 'anthropic', prefix: 'anthropic-ratelimit-' },
  { family: 'openai', prefix: 'x-ratelimit-' },
];

function carries(headers: IncomingHttpHeaders, prefix: string): boolean {
  for (const name in headers) if (name.startsWith(prefix)) return true;
  return false;
}

/*
 * A gateway answers in the header family of whatever is behind it, whatever the request's
 * shape: Anthropic's OpenAI-compatible endpoint, or LiteLLM in front of either. A family the
 * answer does not carry is not read at all: this runs once per answer.
 */
function otherFamilies(own: ProviderName, headers: IncomingHttpHeaders): ProviderName[] {
  return HEADER_FAMILIES.filter(({ family, prefix }) => family !== own && carries(headers, prefix)).map(({ family }) => family);
}

/*
 * Each answer's headers are read twice in a row, for its limits and for its reports: the last
 * reading is kept, so that the second is free. Keyed by the headers object itself, and only
 * ever read from, so a reading of one answer is never taken for another's.
 */
let lastReading: { family: ProviderName; headers: IncomingHttpHeaders; now: number; limits: ReportedLimits } | null = null;

function readReportedLimits(family: ProviderName, headers: IncomingHttpHeaders, now: number): ReportedLimits {
  if (lastReading !== null && lastReading.headers === headers && lastReading.now === now && lastReading.family === family)
    return lastReading.limits;
  const limits = readLimitHeaders(family, headers, now);
  lastReading = { family, headers, now, limits };
  return limits;
}

function readEveryFamily(own: ProviderName, headers: IncomingHttpHeaders, now: number): ReportedLimits {
  const others = otherFamilies(own, headers);
  if (others.length === 0) return readReportedLimits(own, headers, now);
  return Object.assign(
    {},
    ...others.map((family) => readReportedLimits(family, headers, now)),
    readReportedLimits(own, headers, now),
  ) as ReportedLimits;
}

/** Per limit, the report of the family that gave it (the request's own wins), with that family's rounding slack. */
function reportsOfEveryFamily(own: ProviderName, headers: IncomingHttpHeaders, now: number): Report[] {
  const others = otherFamilies(own, headers);
  if (others.length === 0) return reportsFrom(own, readReportedLimits(own, headers, now), now);
  const byDimension = new Map<Dimension, Report>();
  for (const family of [...others, own]) {
    for (const report of reportsFrom(family, readReportedLimits(family, headers, now), now)) byDimension.set(report.dimension, report);
  }
  return [...byDimension.values()];
}

function shapeFor(name: ProviderName, endpoint: EndpointKind, path: string, body: Buffer): AdmissionShape {
  const shape = shapeRequest(name, path, body);
  // Counting tokens or listing models spends no tokens; an embedding spends its input only.
  if (endpoint === 'no-tokens') return { ...shape, inputTokens: 0, generates: false, declaredMaxTokens: null };
  return endpoint === 'embedding' ? { ...shape, generates: false, declaredMaxTokens: null } : shape;
}

function buildAdapter(name: ProviderName, endpoint: EndpointKind): ProviderAdapter {
  return {
    name,
    endpoint,
    usageTap: ({ contentType, contentEncoding }) => createUsageTap({ provider: name, contentType, contentEncoding }),
    readLimits: (headers, now) => readEveryFamily(name, headers, now),
    readReports: (headers, now) => reportsOfEveryFamily(name, headers, now),
    errorBody: (kind, message) => localErrorBody(name, kind, message),
    shape: (path, body) => shapeFor(name, endpoint, path, body),
  };
}

const PROVIDERS: readonly ProviderName[] = ['anthropic', 'openai', 'generic'];
const ENDPOINTS: readonly EndpointKind[] = ['generation', 'embedding', 'no-tokens'];

/** One adapter per provider and endpoint kind, built once: choosing per request allocates nothing. */
const ADAPTERS = new Map(
  PROVIDERS.flatMap((name) => ENDPOINTS.map((endpoint) => [`${name}/${endpoint}`, buildAdapter(name, endpoint)] as const)),
);

export function providerAdapter(name: ProviderName, endpoint: EndpointKind = 'generation'): ProviderAdapter {
  return ADAPTERS.get(`${name}/${endpoint}`) as ProviderAdapter;
}

/** Picks a request's adapter: `configured` is the `--provider` setting. */
export type ProviderChooser = (request: RequestShape) => ProviderAdapter;

export function providerChooser(upstream: URL, configured: 'auto' | ProviderName): ProviderChooser {
  return (request) => {
    const { provider, endpoint } = chooseProvider(request, upstream, configured);
    return providerAdapter(provider, endpoint);
  };
}
