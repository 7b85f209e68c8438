import Anthropic from '@anthropic-ai/sdk';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  copyCounts,
  emptyLoadCounts,
  messageBody,
  tallyAttempt,
  type AttemptKind,
  type AttemptRecord,
  type LoadStarter,
} from '../src/sim/loadGenerator.js';

/*
 * bench:replay's clients: the official @anthropic-ai/sdk, one client object per simulated
 * client, at its default retry settings (maxRetries 2, its own backoff, Retry-After honoured
 * under 60 s, a 10-minute timeout). Nothing of its retry logic is re-implemented here: a fetch
 * wrapper only watches each attempt the SDK makes, so that the replay can tell an upstream 429
 * from ratewarden's own answer and time every attempt.
 */

function attemptKind(status: number, local: boolean): AttemptKind {
  if (status === 429) return local ? 'local-429' : 'upstream-429';
  if (status >= 200 && status < 300) return 'ok';
  return local ? 'local-error' : 'upstream-error';
}

function errorCodeOf(error: unknown): string | null {
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  return typeof cause?.code === 'string' ? cause.code : null;
}

export const startSdkLoad: LoadStarter = (baseUrl, profile, random, clock) => {
  const stopping = new AbortController();
  setMaxListeners(4 * profile.clients + 10, stopping.signal);
  const records: AttemptRecord[] = [];
  const counts = emptyLoadCounts();

  async function pause(ms: number): Promise<boolean> {
    return sleep(ms, true, { signal: stopping.signal }).catch(() => false);
  }

  async function client(index: number): Promise<void> {
    const draws = random.fork(`client ${index}`);
    let attempts: AttemptRecord[] = [];
    const watchingFetch: typeof fetch = async (input, init) => {
      const sentAt = clock();
      try {
        const response = await fetch(input, init);
        const reason = response.headers.get('x-ratewarden-reason');
        attempts.push({
          client: index,
          retry: attempts.length,
          sentAt,
          answeredAt: clock(),
          kind: attemptKind(response.status, reason !== null),
          status: response.status,
          reason,
          tokens: 0,
          completedAt: null,
          errorCode: null,
        });
        return response;
      } catch (error) {
        attempts.push({
          client: index,
          retry: attempts.length,
          sentAt,
          answeredAt: clock(),
          kind: 'connection-error',
          status: null,
          reason: null,
          tokens: 0,
          completedAt: null,
          errorCode: errorCodeOf(error),
        });
        throw error;
      }
    };
    // Default retries and timeout: what a new user gets.
    const sdk = new Anthropic({ baseURL: baseUrl, apiKey: 'sk-ant-demo-not-a-key', fetch: watchingFetch });
    if (!(await pause(draws.between(0, profile.startSpreadMs)))) return;
    while (!stopping.signal.aborted) {
      const params = JSON.parse(messageBody(draws, profile).toString('utf8')) as Anthropic.MessageCreateParamsNonStreaming;
      attempts = [];
      counts.requests += 1;
      let failed = false;
      try {
        const message = await sdk.messages.stream(params, { signal: stopping.signal }).finalMessage();
        const last = attempts.at(-1);
        if (last !== undefined) {
          last.tokens = message.usage.input_tokens + message.usage.output_tokens;
          last.completedAt = clock();
        }
      } catch {
        if (stopping.signal.aborted) return;
        failed = true;
        // A 200 whose stream broke off: the SDK does not retry that.
        const last = attempts.at(-1);
        if (last !== undefined && last.kind === 'ok') last.kind = 'cut-short';
      }
      for (const [position, attempt] of attempts.entries()) {
        records.push(attempt);
        tallyAttempt(counts, attempt, failed && position === attempts.length - 1);
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
    },
  };
};
