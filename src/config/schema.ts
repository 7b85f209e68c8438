import { scopeByValues } from '../core/scopes.js';
import {
  byteSize,
  choice,
  duration,
  familyRules,
  flag,
  keyAliasMap,
  fraction,
  integer,
  listenAddress,
  optionalCount,
  scopeBudgetRules,
  text,
  unsafe,
  unsafeFlag,
  type Field,
} from './fields.js';
import { upstreamList } from './upstreamList.js';

/**
 * Every setting ratewarden has, in one table. The config-file key and the flag are the kebab-case
 * form of the name (`tokenBudget` → `token-budget`, `--token-budget`), the environment variable
 * its upper snake-case form (`RATEWARDEN_TOKEN_BUDGET`).
 */
export const settingsSchema = {
  db: text(null, 'the store: a SQLite database file, or a postgres:// URL of a server a fleet shares', {
    expected: 'a file path or a postgres:// URL',
    example: 'use e.g. /var/lib/ratewarden/ratewarden.db or postgres://ratewarden@db.internal/ratewarden',
    placeholder: '<path|url>',
    defaultHelp: '$XDG_STATE_HOME/ratewarden/ratewarden.db',
  }),
  durability: choice(['normal', 'full'] as const, 'normal', 'synchronous=NORMAL survives a process kill; FULL also survives power loss'),
  logFormat: choice(['text', 'json'] as const, 'text', 'log lines as text or JSON'),
  logRepeatInterval: duration(
    10_000,
    'repeats of a per-request log line (a 503, an upstream error) within this are summarised in one line; 0 logs every one',
  ),

  upstream: upstreamList(
    "the rate-limited API to forward to; one per provider lets one proxy serve them all, each request going to its provider's",
  ),
  listen: listenAddress({ host: '127.0.0.1', port: 8787 }, 'address the proxy listens on'),
  allowRemote: flag(false, 'allow listening on a non-loopback address'),
  page: flag(true, 'serve the live read-only page at /_ratewarden/ on the listen address; --no-page turns it off'),
  provider: choice(
    ['auto', 'anthropic', 'openai', 'generic'] as const,
    'auto',
    'API shape of requests; auto tells it from each request’s path and headers, then the upstream host',
  ),
  maxBody: byteSize(10 * 1_048_576, 'largest request body accepted; a larger one is answered 413'),
  maxWait: duration(60_000, 'how long a request that lacks only budget waits in the fair queue before a local 429'),
  maxQueue: integer(1_000, 'requests that may wait for budget at once; more are answered a local 429 at once', 0),
  stopTimeout: duration(30_000, 'on SIGTERM, how long in-flight requests may take to finish'),
  upstreamTimeout: duration(600_000, 'how long to wait for the upstream to start answering; then 504', { allowZero: false }),
  defaultMaxTokens: integer(
    4_096,
    'output tokens reserved for a request that does not say max_tokens, until its model’s output is learned',
    0,
  ),
  outputReserveMax: optionalCount('cap on the output tokens reserved per request; none leaves the learned estimate and max_tokens only'),

  window: duration(60_000, 'the sliding window the budgets apply to', { allowZero: false }),
  tokenBudget: optionalCount('tokens per window; none follows the upstream’s reported limit'),
  requestBudget: optionalCount('requests per window; none follows the upstream’s reported limit'),
  dailyTokenBudget: optionalCount('tokens per rolling day and scope, enforced next to the window; none: no daily limit'),
  dailyRequestBudget: optionalCount('requests per rolling day and scope, enforced next to the window; none: no daily limit'),
  scopeBy: choice(
    scopeByValues,
    'group',
    'what one upstream limit applies to: group (the organization the upstream names × model group, learned; the key until known), API key × model group, key, model, or none (one scope for everything)',
  ),
  scopeFamilies: familyRules(
    'model-name globs → the family (scope) they share limits in, tried before the built-in Anthropic and OpenAI families',
  ),
  keyAliases: keyAliasMap('names for keys in status, calibrate and the metrics, by fingerprint or last 4 characters (never the key)'),
  scopeBudgets: scopeBudgetRules(
    'per-scope limits for the scopes a glob on the scope name matches (first match wins), over the global budgets',
  ),
  tokenMetric: choice(['input', 'output', 'total'] as const, 'total', 'which tokens the token budget counts'),
  limitShape: choice(
    ['auto', 'token-bucket', 'sliding-window'] as const,
    'auto',
    'how the upstream refills its limits; a token bucket’s fresh report replaces the window budget, any other is followed on top of it; auto: a bucket for Anthropic’s headers, a window for the rest',
  ),
  tokenBudgetMax: optionalCount('the controller never raises the token budget above this'),
  requestBudgetMax: optionalCount('the controller never raises the request budget above this'),
  safetyMargin: fraction(0.97, 'share of the upstream’s reported limit (and of its reported remaining) the budget may use', {
    min: 0,
    inclusiveMin: false,
  }),
  limitPeriod: duration(60_000, 'the period the upstream’s reported limits are per; they are scaled from it to --window', {
    allowZero: false,
  }),
  backoffBase: duration(30_000, 'cooldown after an upstream 429 that does not say when to retry', { allowZero: false }),
  backoffMax: duration(300_000, 'longest cooldown refused probes double up to (a longer retry-after wins)', { allowZero: false }),
  backoffJitter: fraction(0, 'random share added to each cooldown; it only ever lengthens one'),
  probeTimeout: duration(60_000, 'after a cooldown, how long one probe request may take before another may go', { allowZero: false }),
  quotaProbeInterval: duration(
    60_000,
    'after a quota 429 (insufficient_quota, a spend limit), how long the group is stopped before one probe tries again',
    { allowZero: false },
  ),
  minHistory: duration(3_600_000, 'controller gate: traffic history needed before any raise'),
  minConsumption: fraction(0.05, 'controller gate: share of the budget the last window must have used'),
  quietPeriod: duration(900_000, 'controller gate: time without an upstream 429 before any raise'),
  raiseStep: fraction(0.05, 'controller raise per window, as a share of the budget', { min: 0, inclusiveMin: false }),
  cutFactor: fraction(0.7, 'at an upstream 429 the budget becomes this share of min(budget, usage)', { min: 0, inclusiveMin: false }),
  retention: duration(86_400_000, 'how long request rows are kept', { allowZero: false }),
  unsafeRecordZeroSamples: unsafeFlag(
    "UNSAFE, for the demo's amnesia run only: record zero-token calibration samples, which drag every limit estimate towards zero",
  ),
  unsafeNoCooldown: unsafeFlag(
    "UNSAFE, for the demo's amnesia run only: a cooldown is recorded but not enforced (no local 429, no half-open probe)",
  ),
  unsafeSeedRaise: unsafeFlag(
    "UNSAFE, for the demo's amnesia run only: raise the budget whenever the window used anything and no 429 is in a row, with no ceiling",
  ),
  unsafeIgnoreReportedRemaining: unsafeFlag(
    "UNSAFE, for the demo's amnesia run only: admit on this proxy's own counters alone, ignoring what the upstream reports is left",
  ),
  unsafeRetryRateLimitedAfter: unsafe(
    duration(
      0,
      "UNSAFE, for the demo's amnesia run only: hold a request the upstream answered 429 and resend it after this fixed delay, ignoring Retry-After (0: off)",
    ),
  ),
  unsafeCrashAfterRateLimits: unsafe(
    integer(
      0,
      'fault injection, for the demo and bench:replay only: the worker exits (code 70) after this many upstream 429s within one window (0: off)',
    ),
  ),
  unsafeClockOffset: unsafe(
    duration(
      0,
      "fault injection, for the fleet tests only: this host's clock reads this much ahead of the true time (0: off); on PostgreSQL shared time is the server's, so only local durations see it",
    ),
  ),

  restartSec: duration(
    10_000,
    'supervisor: delay before the second restart in a row (the first after a stable run is immediate); it doubles with each further failure',
  ),
  restartHold: duration(
    5_000,
    'supervisor: while the next worker starts, or is due within this, new connections wait for it instead of a 503 restarting (0: never wait out a delay)',
  ),
  restartHoldConnections: integer(
    256,
    'supervisor: at most this many connections wait for the next worker; more are answered 503 restarting',
  ),
  restartMaxDelay: duration(300_000, 'supervisor: longest restart delay'),
  stableAfter: duration(60_000, 'supervisor: a worker ready this long resets the consecutive failures'),
  startLimitBurst: integer(5, 'supervisor: give up after this many failures within the interval', 1),
  startLimitInterval: duration(300_000, 'supervisor: the sliding interval of the burst limit', { allowZero: false }),
  startTimeout: duration(30_000, 'supervisor: a worker not ready within this is a failure', { allowZero: false }),
  livenessInterval: duration(5_000, 'supervisor: how often the worker’s health is probed', { allowZero: false }),
  livenessMisses: integer(3, 'supervisor: missed probes in a row that count as a failure', 1),
} satisfies Record<string, Field<unknown>>;

export type SettingName = keyof typeof settingsSchema;

type ValueOf<F> = F extends Field<infer T> ? T : never;

export type Settings = { [K in SettingName]: ValueOf<(typeof settingsSchema)[K]> };

export const settingNames = Object.keys(settingsSchema) as SettingName[];

export function kebabName(name: SettingName): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

export function envName(name: SettingName): string {
  return `RATEWARDEN_${kebabName(name).replace(/-/g, '_').toUpperCase()}`;
}
