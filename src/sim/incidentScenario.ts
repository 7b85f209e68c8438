import { settingsSchema, kebabName, type SettingName } from '../config/schema.js';
import type { SimUpstreamOptions } from './upstream.js';
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

export type SetupName = 'amnesia' | 'ratewarden';

export const setupNames: readonly SetupName[] = ['amnesia', 'ratewarden'];

export interface ReplayOptions {
  seed: number;
  /** How long the load runs, in demo time. */
  durationMs: number;
  /** Mean gap between injected crashes, in demo time; 0 for none. */
  crashEveryMs: number;
  /** Mean gap between upstream storms, in demo time; 0 for none. */
  stormEveryMs: number;
  clients: number;
}

/**
 * Four real minutes of the incident: a crash about every minute while the upstream storms every
 * few minutes. Seed 13 puts two of the crashes inside the first storm; any other seed replays
 * the same kind of incident with other moments.
 */
export const defaultReplayOptions: ReplayOptions = { seed: 13, durationMs: scaled(240_000), crashEveryMs: scaled(60_000), stormEveryMs: scaled(160_000), clients: 12 };

/**
 * The simulated upstream: a one-minute window (scaled) of 24 000 tokens, answers of 300 tokens
 * streamed in 10 pieces over about 5 real seconds.
 */
export const upstreamShape = {
  tokenLimit: 24_000,
  windowMs: scaled(60_000),
  outputTokens: 300,
  streamChunks: 10,
  streamDelayMs: scaled(500),
} satisfies SimUpstreamOptions;

/** Each storm lasts one to two minutes (scaled): the upstream refuses everything meanwhile. */
export function stormShape(meanGapMs: number): StormShape {
  return { meanGapMs, lengthMs: [scaled(60_000), scaled(120_000)] };
}

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
    '--upstream', upstreamUrl,
    '--provider', 'anthropic',
    '--listen', `127.0.0.1:${port}`,
    ...scaledDefault('window'),
    // The upstream's limits are per its (scaled) minute: without this they would be scaled down tenfold.
    ...scaledDefault('limitPeriod'),
    ...scaledDefault('maxWait'),
    ...scaledDefault('probeTimeout'),
  ];
}

/** ratewarden's defaults, every duration scaled: gates on, backoff ladder, durable state. */
export function ratewardenArgs(upstreamUrl: string, port: number, database: string): string[] {
  return [
    ...commonArgs(upstreamUrl, port),
    '--db', database,
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

/**
 * The seed's setup, from the same code with its protections off: a fixed 30 s cooldown (no
 * ladder), the budget raised without gates, zero-token samples recorded. Its state is lost at
 * every restart by the naive restarter, which gives each worker life a fresh database.
 */
export function amnesiaWorkerArgs(upstreamUrl: string, port: number): string[] {
  const fixedCooldown = ms(scaled(30_000));
  return [
    ...commonArgs(upstreamUrl, port),
    '--backoff-base', fixedCooldown,
    '--backoff-max', fixedCooldown,
    '--min-history', '0ms',
    '--min-consumption', '0',
    '--quiet-period', '0ms',
    '--unsafe-record-zero-samples',
  ];
}
