import { settingsSchema, kebabName, type SettingName } from '../config/schema.js';
import type { LimitShape, SimUpstreamOptions } from './upstream.js';
import type { LoadProfile } from './loadGenerator.js';
import type { StormShape } from './incidentSchedule.js';
import { scaledSdkRetryRule } from './sdkRetry.js';

/**
 * The incident, replayed on compressed time: one demo second stands for `timeScale` real
 * seconds, so the upstream's one-minute window lasts 6 s and every other duration of the rate
 * limiter, the supervisors and the clients shrinks by the same factor.
 */
export const timeScale = 10;

export const scaled = (realMs: number): number => Math.round(realMs / timeScale);

/**
 * `direct`: the clients talk to the upstream themselves, no proxy (what a user has today, and
 * the bar ratewarden must clear). `amnesia`: the seed's setup, the same code with its
 * protections off. `ratewarden`: the defaults.
 */
export type SetupName = 'direct' | 'amnesia' | 'ratewarden';

export const setupNames: readonly SetupName[] = ['direct', 'amnesia', 'ratewarden'];

export interface ReplayOptions {
  seed: number;
  /** How long the load runs, in demo time. */
  durationMs: number;
  /** Mean gap between injected crashes (SIGKILL of the worker), in demo time; 0 for none. */
  crashEveryMs: number;
  /** A worker dies when it has seen this many upstream 429s within one window; 0 for never. */
  crashAfter429s: number;
  /** Mean gap between storms (the second tenant surging past the whole limit), in demo time; 0 for none. */
  stormEveryMs: number;
  /** Share of the key's capacity a second tenant draws between storms, bypassing the proxy; 0 for none. */
  otherTenantShare: number;
  /** The upstream's limit: Anthropic's token bucket (default) or an OpenAI-like sliding window. */
  limitShape: LimitShape;
  clients: number;
}

/**
 * Four real minutes of the incident: a crash about every minute while the upstream storms every
 * few minutes. Seed 13 puts two of the crashes inside the first storm; any other seed replays
 * the same kind of incident with other moments.
 */
export const defaultReplayOptions: ReplayOptions = {
  seed: 13,
  durationMs: scaled(240_000),
  crashEveryMs: scaled(60_000),
  crashAfter429s: 3,
  stormEveryMs: scaled(160_000),
  otherTenantShare: 0,
  limitShape: 'token-bucket',
  clients: 12,
};

/**
 * The simulated upstream: 24 000 tokens a (scaled) minute, answers of 300 tokens streamed in 10
 * pieces over about 5 real seconds. Its limit's shape comes from the replay's options.
 */
export const upstreamShape = {
  tokenLimit: 24_000,
  windowMs: scaled(60_000),
  outputTokens: 300,
  streamChunks: 10,
  streamDelayMs: scaled(500),
} satisfies SimUpstreamOptions;

/** Each storm lasts one to two minutes (scaled). */
export function stormShape(meanGapMs: number): StormShape {
  return { meanGapMs, lengthMs: [scaled(60_000), scaled(120_000)] };
}

/** The second tenant's requests between storms: a typical request's size. */
export const otherTenantRequestTokens = 1_000;

/**
 * During a storm the second tenant floods the key with small requests, three times the whole
 * limit: it takes every token the moment it refills, so the bucket never holds what one of the
 * fleet's requests needs, as when another team's batch job starts on the same organisation.
 */
export const storm = { drawShare: 3, requestTokens: 200 };

export function loadProfile(clients: number): LoadProfile {
  return {
    clients,
    promptChars: [600, 2_400],
    // Around the answers' real length (300): mostly a little above it, sometimes cutting it short.
    maxTokens: [260, 400],
    thinkTimeMs: scaled(2_000),
    startSpreadMs: scaled(10_000),
    retry: scaledSdkRetryRule(timeScale),
    attemptTimeoutMs: scaled(600_000),
  };
}

/** The fixed restart delay of the seed's unit file, `Restart=always` + `RestartSec=3`. */
export const naiveRestartDelayMs = scaled(3_000);

function defaultOf(name: SettingName): number {
  const value = settingsSchema[name].default;
  if (typeof value !== 'number') throw new Error(`setting ${name} has no numeric default`);
  return value;
}

const ms = (value: number): string => `${value}ms`;

/** A setting's default duration, scaled to demo time. */
const scaledDefault = (name: SettingName): [string, string] => [`--${kebabName(name)}`, ms(scaled(defaultOf(name)))];

/**
 * The durations that belong to the incident's time: the window, cooldowns, controller gates and
 * the supervisor's brakes. Machine-bound timeouts (start, liveness, stop, upstream) keep their
 * defaults: the processes do not start any faster on compressed time.
 */
function commonArgs(upstreamUrl: string, port: number): string[] {
  return [
    '--upstream',
    upstreamUrl,
    '--provider',
    'anthropic',
    '--listen',
    `127.0.0.1:${port}`,
    ...scaledDefault('window'),
    // The upstream's limits are per its (scaled) minute: without this they would be scaled down tenfold.
    ...scaledDefault('limitPeriod'),
    ...scaledDefault('maxWait'),
    ...scaledDefault('probeTimeout'),
  ];
}

/** The 429 → crash edge, the same for both proxies (the direct run has no worker to crash). */
function crashEdgeArgs(crashAfter429s: number): string[] {
  return crashAfter429s > 0 ? ['--unsafe-crash-after-rate-limits', String(crashAfter429s)] : [];
}

/** ratewarden's defaults, every duration scaled: gates on, backoff ladder, durable state. */
export function ratewardenArgs(upstreamUrl: string, port: number, database: string, crashAfter429s: number): string[] {
  return [
    ...commonArgs(upstreamUrl, port),
    ...crashEdgeArgs(crashAfter429s),
    '--db',
    database,
    ...scaledDefault('backoffBase'),
    ...scaledDefault('backoffMax'),
    ...scaledDefault('minHistory'),
    ...scaledDefault('quietPeriod'),
    ...scaledDefault('restartSec'),
    ...scaledDefault('restartMaxDelay'),
    ...scaledDefault('stableAfter'),
    ...scaledDefault('startLimitInterval'),
  ];
}

/** The seed's fixed retry of a 429'd request, whatever Retry-After said. */
export const seedRetryMs = scaled(30_000);

/**
 * The seed's setup, from the same code with its protections off (docs/demo.md lists each):
 * a cooldown recorded but not enforced (no local 429, no half-open probe), a 429'd request
 * resent after a fixed 30 s whatever Retry-After said, the seed's raise rule (usage > 0 and no
 * 429 in a row; no ceiling), zero-token samples recorded. Its state is lost at every restart by
 * the naive restarter, which gives each worker life a fresh database.
 */
export function amnesiaWorkerArgs(upstreamUrl: string, port: number, crashAfter429s: number): string[] {
  const fixedCooldown = ms(seedRetryMs);
  return [
    ...commonArgs(upstreamUrl, port),
    ...crashEdgeArgs(crashAfter429s),
    // The seed's cooldown was a fixed 30 s: recorded for the table, never enforced.
    '--backoff-base',
    fixedCooldown,
    '--backoff-max',
    fixedCooldown,
    '--unsafe-no-cooldown',
    '--unsafe-retry-rate-limited-after',
    fixedCooldown,
    '--unsafe-seed-raise',
    '--unsafe-record-zero-samples',
    // The seed admitted on its own in-memory counters, refused what did not fit at once, and
    // took 0.9 of the reported limit: none of the goodput work of the fair queue.
    '--unsafe-ignore-reported-remaining',
    '--max-wait',
    '0ms',
    '--safety-margin',
    '0.9',
  ];
}
