import { setMaxListeners } from 'node:events';
import { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../kernel/clock.js';
import { decideRetry, type SdkRetryRule } from './sdkRetry.js';
import { send } from './sendAttempt.js';
import type { SeededRandom } from './seededRandom.js';

/** What the simulated clients send and how they pace themselves. */
export interface LoadProfile {
  clients: number;
  /** Prompt length in characters, drawn uniformly from [min, max]. */
  promptChars: readonly [number, number];
  /** `max_tokens`, drawn uniformly from [min, max]: close to the answer's real length. */
  maxTokens: readonly [number, number];
  /** Mean pause between one request's end and the client's next request (exponential). */
  thinkTimeMs: number;
  /** Clients start at random moments within this span, as a team's agents would. */
  startSpreadMs: number;
  retry: SdkRetryRule;
  /** An attempt with no answer by then is abandoned (the SDKs' request timeout, scaled). */
  attemptTimeoutMs: number;
}

/**
 * How one attempt ended. `local-*` answers came from ratewarden itself (`x-ratewarden-reason`);
 * every other answer came from the upstream, through the proxy.
 */
export type AttemptKind = 'ok' | 'cut-short' | 'upstream-429' | 'upstream-error' | 'local-429' | 'local-error' | 'connection-error';

export interface AttemptRecord {
  client: number;
  /** 0 for a request's first attempt, n for its n-th retry. */
  retry: number;
  sentAt: number;
  /** When the answer's status line arrived, or the attempt failed. */
  answeredAt: number;
  kind: AttemptKind;
  status: number | null;
  /** `x-ratewarden-reason` of a local answer (`cooldown`, `budget`, …). */
  reason: string | null;
  /** Input plus output tokens of an answer received in full; 0 otherwise. */
  tokens: number;
  /** When the last byte of a full answer arrived. */
  completedAt: number | null;
  /** A connection error's code (`ECONNREFUSED`, `ECONNRESET`, …); null otherwise. */
  errorCode?: string | null;
}

/** Requests that still failed after the client's last retry, by what the client saw last. */
export interface ClientFailures {
  /** 429 after the last retry (the upstream's or ratewarden's). */
  rateLimited: number;
  connectionRefused: number;
  /** Reset, cut-off stream or timeout. */
  connectionLost: number;
  /** 5xx (the upstream's, or ratewarden's 502/503/504). */
  serverError: number;
  other: number;
}

export function emptyFailures(): ClientFailures {
  return { rateLimited: 0, connectionRefused: 0, connectionLost: 0, serverError: 0, other: 0 };
}

/** What kind of client-visible failure a request's last attempt makes. */
export function failureKind(last: Pick<AttemptRecord, 'kind' | 'status' | 'errorCode'>): keyof ClientFailures {
  if (last.kind === 'upstream-429' || last.kind === 'local-429') return 'rateLimited';
  if (last.kind === 'connection-error') return last.errorCode === 'ECONNREFUSED' ? 'connectionRefused' : 'connectionLost';
  if (last.kind === 'cut-short') return 'connectionLost';
  return last.status !== null && last.status >= 500 ? 'serverError' : 'other';
}

/** Whether the upstream saw this attempt: its answer (or a cut-off stream) came from there. */
export function reachedUpstream(kind: AttemptKind): boolean {
  return kind === 'ok' || kind === 'cut-short' || kind === 'upstream-429' || kind === 'upstream-error';
}

export interface LoadCounts {
  /** Requests the clients made (each with its retries). */
  requests: number;
  attempts: number;
  ok: number;
  /** Requests that still failed after the SDK's last retry. */
  failed: number;
  failures: ClientFailures;
  tokens: number;
  upstream429: number;
  localRefusals: Record<string, number>;
  errors: number;
}

export function emptyLoadCounts(): LoadCounts {
  return { requests: 0, attempts: 0, ok: 0, failed: 0, failures: emptyFailures(), tokens: 0, upstream429: 0, localRefusals: {}, errors: 0 };
}

export interface LoadGenerator {
  counts(): LoadCounts;
  attempts(): readonly AttemptRecord[];
  /** Stops every client; attempts cut off by the stop are not recorded. */
  stop(): Promise<void>;
}

const promptWords = 'please summarise the incident report and list what the rate limiter should have done differently ';

function promptOf(length: number): string {
  return promptWords.repeat(Math.ceil(length / promptWords.length)).slice(0, length);
}

export function messageBody(random: SeededRandom, profile: Pick<LoadProfile, 'promptChars' | 'maxTokens'>): Buffer {
  const prompt = promptOf(random.integer(profile.promptChars[0], profile.promptChars[1]));
  const maxTokens = random.integer(profile.maxTokens[0], profile.maxTokens[1]);
  return Buffer.from(
    JSON.stringify({ model: 'claude-sim-1', max_tokens: maxTokens, stream: true, messages: [{ role: 'user', content: prompt }] }),
  );
}

/** Starts the clients of a run against `baseUrl` (the proxy's, or the upstream's in the direct run). */
export type LoadStarter = (baseUrl: string, profile: LoadProfile, random: SeededRandom, clock: Clock) => LoadGenerator;

/** Adds one attempt to the counts; `final` when the client gives the request up after it. */
export function tallyAttempt(counts: LoadCounts, record: AttemptRecord, final: boolean): void {
  counts.attempts += 1;
  if (record.kind === 'ok') {
    counts.ok += 1;
    counts.tokens += record.tokens;
  } else if (record.kind === 'upstream-429') {
    counts.upstream429 += 1;
  } else if (record.kind === 'local-429') {
    const reason = record.reason ?? 'unknown';
    counts.localRefusals[reason] = (counts.localRefusals[reason] ?? 0) + 1;
  } else {
    counts.errors += 1;
  }
  if (final && record.kind !== 'ok') {
    counts.failed += 1;
    counts.failures[failureKind(record)] += 1;
  }
}

export function copyCounts(counts: LoadCounts): LoadCounts {
  return { ...counts, failures: { ...counts.failures }, localRefusals: { ...counts.localRefusals } };
}

/**
 * N simulated clients, each sending one request at a time and retrying it the way the official
 * SDKs do (sdkRetry.ts): the demo's clients, with no runtime dependency. bench:replay drives the
 * official SDK itself instead (bench/sdkLoad.ts).
 */
export const startLoad: LoadStarter = (proxyUrl, profile, random, clock) => {
  const url = new URL('/v1/messages', proxyUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: profile.clients });
  const stopping = new AbortController();
  // Every client's request and pause listen for the stop: two listeners each, by design.
  setMaxListeners(2 * profile.clients + 10, stopping.signal);
  const records: AttemptRecord[] = [];
  const counts = emptyLoadCounts();

  async function pause(ms: number): Promise<boolean> {
    return sleep(ms, true, { signal: stopping.signal }).catch(() => false);
  }

  async function client(index: number): Promise<void> {
    const draws = random.fork(`client ${index}`);
    if (!(await pause(draws.between(0, profile.startSpreadMs)))) return;
    while (!stopping.signal.aborted) {
      const body = messageBody(draws, profile);
      counts.requests += 1;
      for (let retry = 0; ; retry++) {
        const result = await send(url, body, agent, profile.attemptTimeoutMs, stopping.signal, clock);
        if (result === null) return;
        const record: AttemptRecord = { client: index, retry, ...result.record };
        records.push(record);
        // The SDKs retry before an answer, never a stream that broke off after its 200: that request fails.
        const decision =
          record.kind === 'ok'
            ? null
            : record.kind === 'cut-short'
              ? ({ retry: false } as const)
              : decideRetry(result.outcome, retry, profile.retry, draws.next(), clock());
        tallyAttempt(counts, record, decision?.retry === false);
        if (decision === null) break;
        if (!decision.retry) break;
        if (!(await pause(decision.delayMs))) return;
      }
      if (!(await pause(draws.exponential(profile.thinkTimeMs)))) return;
    }
  }

  const running = Promise.all(Array.from({ length: profile.clients }, (_, index) => client(index)));
  return {
    counts: () => copyCounts(counts),
    attempts: () => records,
    async stop() {
      stopping.abort();
      await running;
      agent.destroy();
    },
  };
};
