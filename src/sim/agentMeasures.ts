import type { ClassLimits } from './anthropicLimiter.js';
import type { UpstreamArrival } from './anthropicUpstream.js';

/** What bench:agents records of one run, and the figures it reports. Pure. */
export interface AttemptRecord {
  sentAt: number;
  answeredAt: number;
  status: number | null;
  /** `x-ratewarden-reason` of a local answer; null when it came from the upstream. */
  reason: string | null;
  retryAfterMs: number | null;
}

export type CallOutcome = 'ok' | 'rate-limited' | 'server-error' | 'connection' | 'other' | 'stopped';

export interface CallRecord {
  agent: number;
  key: string;
  modelClass: string;
  startedAt: number;
  endedAt: number;
  outcome: CallOutcome;
  attempts: AttemptRecord[];
  usage: { input: number; cacheCreation: number; cacheRead: number; output: number } | null;
}

export interface TurnRecord {
  agent: number;
  role: string;
  startedAt: number;
  endedAt: number;
  finished: boolean;
}

export interface FleetRecords {
  calls: CallRecord[];
  turns: TurnRecord[];
}

export type Dimension = 'requests' | 'input' | 'output';
export const dimensions: readonly Dimension[] = ['requests', 'input', 'output'];

export interface LimitGroup {
  organization: string;
  modelClass: string;
  limits: ClassLimits;
}

export interface RunWindow {
  startedAt: number;
  endedAt: number;
  /** The limits' minute on the run's clock (60 s divided by the time scale). */
  windowMs: number;
  timeScale: number;
}

export interface RunFigures {
  upstreamRequests: number;
  upstream429s: number;
  /** Per limit group (`org/class`): served over capacity, per dimension. */
  goodput: Record<string, Record<Dimension, number>>;
  calls: number;
  failures: number;
  failureRate: number;
  failuresByOutcome: Partial<Record<CallOutcome, number>>;
  local429s: Record<string, number>;
  turns: number;
  turnsFinished: number;
  /** Real-time seconds (the run's wall time times the time scale). */
  turnP50s: number;
  turnP95s: number;
  /** The same per role, when the scenario gives its agents roles (`light`, `flood`). */
  turnsByRole: Record<string, { turns: number; p50s: number; p95s: number }>;
  /**
   * Requests that reached the upstream inside a cooldown: one ratewarden recorded (single-scope
   * runs), else one a client was told of (a local 429 `cooldown` and its Retry-After, for that
   * key × class). A request admitted just before the 429 that started the cooldown and forwarded
   * late counts here too; `admittedInCooldown` is the proxy's own decision.
   */
  forwardedInCooldown: number;
  forwardedInCooldown429: number;
  cooldownSource: 'recorded' | 'told';
  /**
   * From the proxy's own records: requests it admitted inside a cooldown it had recorded. Only
   * when the run has one scope (the records do not say which scope a cooldown was for); else null.
   */
  admittedInCooldown: number | null;
}

export interface ProxyRecords {
  admissions: readonly number[];
  cooldowns: readonly { at: number; until: number }[];
}

/** Admissions strictly inside a recorded cooldown (a probe is admitted at its end, not inside). */
export function admittedInCooldown(records: ProxyRecords): number {
  return records.admissions.filter((at) => records.cooldowns.some((cooldown) => at > cooldown.at && at < cooldown.until)).length;
}

export function groupName(organization: string, modelClass: string): string {
  return `${organization}/${modelClass}`;
}

/** The q-quantile (0..1) by nearest rank; 0 for no values. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

/** What a group could serve over the run: a full bucket at the start plus its refill. */
function capacity(limitPerMinute: number, run: RunWindow): number {
  return (limitPerMinute * (run.endedAt - run.startedAt + run.windowMs)) / run.windowMs;
}

interface CooldownSeen {
  key: string;
  modelClass: string;
  from: number;
  to: number;
}

/** Margin for a request the proxy admitted just before the 429 that started the cooldown was recorded. */
const COOLDOWN_EDGE_MS = 20;

function cooldownsSeen(calls: readonly CallRecord[]): CooldownSeen[] {
  return calls.flatMap((call) =>
    call.attempts
      .filter((attempt) => attempt.status === 429 && attempt.reason === 'cooldown' && attempt.retryAfterMs !== null)
      .map((attempt) => ({
        key: call.key,
        modelClass: call.modelClass,
        from: attempt.answeredAt,
        to: attempt.answeredAt + (attempt.retryAfterMs ?? 0),
      })),
  );
}

/** Per limit group: what the successful calls were served, over what the group could serve. */
function goodputOf(
  records: FleetRecords,
  groups: readonly LimitGroup[],
  organizationOf: (key: string) => string,
  run: RunWindow,
): RunFigures['goodput'] {
  const goodput: RunFigures['goodput'] = {};
  for (const group of groups) {
    const served = { requests: 0, input: 0, output: 0 };
    for (const call of records.calls) {
      if (
        call.outcome !== 'ok' ||
        call.usage === null ||
        call.modelClass !== group.modelClass ||
        organizationOf(call.key) !== group.organization
      )
        continue;
      served.requests += 1;
      served.input += call.usage.input + call.usage.cacheCreation;
      served.output += call.usage.output;
    }
    goodput[groupName(group.organization, group.modelClass)] = {
      requests: served.requests / capacity(group.limits.requestsPerMinute, run),
      input: served.input / capacity(group.limits.inputTokensPerMinute, run),
      output: served.output / capacity(group.limits.outputTokensPerMinute, run),
    };
  }
  return goodput;
}

/** Local 429s (those carrying `x-ratewarden-reason`) counted by reason. */
function local429sOf(calls: readonly CallRecord[]): Record<string, number> {
  const local429s: Record<string, number> = {};
  for (const attempt of calls.flatMap((call) => call.attempts)) {
    if (attempt.status === 429 && attempt.reason !== null) local429s[attempt.reason] = (local429s[attempt.reason] ?? 0) + 1;
  }
  return local429s;
}

function turnsByRoleOf(turns: readonly TurnRecord[], seconds: (turn: TurnRecord) => number): RunFigures['turnsByRole'] {
  const turnsByRole: RunFigures['turnsByRole'] = {};
  for (const role of new Set(turns.map((turn) => turn.role))) {
    const mine = turns.filter((turn) => turn.role === role).map(seconds);
    turnsByRole[role] = { turns: mine.length, p50s: quantile(mine, 0.5), p95s: quantile(mine, 0.95) };
  }
  return turnsByRole;
}

/** Upstream arrivals inside a cooldown: one the proxy recorded when given its records, else one a client was told of. */
function arrivalsInCooldown(
  arrivals: readonly UpstreamArrival[],
  calls: readonly CallRecord[],
  proxyRecords: ProxyRecords | null,
): UpstreamArrival[] {
  const told = cooldownsSeen(calls);
  return arrivals.filter((arrival) =>
    proxyRecords !== null
      ? proxyRecords.cooldowns.some((cooldown) => arrival.at > cooldown.at && arrival.at < cooldown.until)
      : told.some(
          (cooldown) =>
            cooldown.key === arrival.key &&
            cooldown.modelClass === arrival.modelClass &&
            arrival.at > cooldown.from + COOLDOWN_EDGE_MS &&
            arrival.at < cooldown.to - COOLDOWN_EDGE_MS,
        ),
  );
}

export function measureRun(
  records: FleetRecords,
  arrivals: readonly UpstreamArrival[],
  groups: readonly LimitGroup[],
  organizationOf: (key: string) => string,
  run: RunWindow,
  proxyRecords: ProxyRecords | null = null,
): RunFigures {
  const counted = records.calls.filter((call) => call.outcome !== 'stopped');
  const failed = counted.filter((call) => call.outcome !== 'ok');
  const failuresByOutcome: RunFigures['failuresByOutcome'] = {};
  for (const call of failed) failuresByOutcome[call.outcome] = (failuresByOutcome[call.outcome] ?? 0) + 1;
  const seconds = (turn: TurnRecord): number => ((turn.endedAt - turn.startedAt) * run.timeScale) / 1000;
  const turnSeconds = records.turns.map(seconds);
  const inCooldown = arrivalsInCooldown(arrivals, records.calls, proxyRecords);
  return {
    upstreamRequests: arrivals.length,
    upstream429s: arrivals.filter((arrival) => arrival.status === 429).length,
    goodput: goodputOf(records, groups, organizationOf, run),
    calls: counted.length,
    failures: failed.length,
    failureRate: counted.length === 0 ? 0 : failed.length / counted.length,
    failuresByOutcome,
    local429s: local429sOf(records.calls),
    turns: records.turns.length,
    turnsFinished: records.turns.filter((turn) => turn.finished).length,
    turnP50s: quantile(turnSeconds, 0.5),
    turnP95s: quantile(turnSeconds, 0.95),
    turnsByRole: turnsByRoleOf(records.turns, seconds),
    forwardedInCooldown: inCooldown.length,
    forwardedInCooldown429: inCooldown.filter((arrival) => arrival.status === 429).length,
    cooldownSource: proxyRecords === null ? 'told' : 'recorded',
    admittedInCooldown: proxyRecords === null ? null : admittedInCooldown(proxyRecords),
  };
}

/** Each group's binding limit: the dimension the reference run (no proxy) used the largest share of. */
export function bindingDimensions(reference: RunFigures): Record<string, Dimension> {
  return Object.fromEntries(
    Object.entries(reference.goodput).map(([group, shares]) => [
      group,
      dimensions.reduce((best, dimension) => (shares[dimension] > shares[best] ? dimension : best), 'output' as Dimension),
    ]),
  );
}

/** Goodput on the binding limit, averaged over the limit groups. */
export function bindingGoodput(figures: RunFigures, binding: Record<string, Dimension>): number {
  const groups = Object.keys(figures.goodput);
  if (groups.length === 0) return 0;
  return groups.reduce((sum, group) => sum + (figures.goodput[group]?.[binding[group] ?? 'output'] ?? 0), 0) / groups.length;
}
