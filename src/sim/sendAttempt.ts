import { request as httpRequest, type Agent, type IncomingMessage, type RequestOptions } from 'node:http';
import type { Clock } from '../kernel/clock.js';
import type { AttemptKind, AttemptRecord } from './loadGenerator.js';
import type { AttemptOutcome } from './sdkRetry.js';

/** The usage a streamed answer reported, and whether it reached `message_stop`. */
interface StreamUsage {
  inputTokens: number;
  outputTokens: number;
  complete: boolean;
}

interface StreamEvent {
  type?: string;
  message?: { usage?: { input_tokens?: number; output_tokens?: number } };
  usage?: { output_tokens?: number };
}

function parseEvent(data: string): StreamEvent | null {
  try {
    const event: unknown = JSON.parse(data);
    return typeof event === 'object' && event !== null ? (event as StreamEvent) : null;
  } catch {
    return null;
  }
}

/** Reads usage from an Anthropic Messages stream: `message_start`, then the last `message_delta`. */
function readStream(response: IncomingMessage, onDone: (usage: StreamUsage) => void): void {
  const usage: StreamUsage = { inputTokens: 0, outputTokens: 0, complete: false };
  let pending = '';
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const event = line.startsWith('data: ') ? parseEvent(line.slice(6)) : null;
      if (event === null) continue;
      if (event.type === 'message_start') {
        usage.inputTokens = event.message?.usage?.input_tokens ?? 0;
        usage.outputTokens = event.message?.usage?.output_tokens ?? 0;
      } else if (event.type === 'message_delta') {
        usage.outputTokens = event.usage?.output_tokens ?? usage.outputTokens;
      } else if (event.type === 'message_stop') {
        usage.complete = true;
      }
    }
  });
  response.once('close', () => onDone(usage));
}

export interface SendResult {
  record: Omit<AttemptRecord, 'client' | 'retry'>;
  outcome: AttemptOutcome;
}

/** null: the run was stopped, so the attempt is not recorded. */
type Settle = (result: SendResult | null) => void;

function connectionFailure(sentAt: number, answeredAt: number, error: NodeJS.ErrnoException): SendResult {
  return {
    record: {
      sentAt,
      answeredAt,
      kind: 'connection-error',
      status: null,
      reason: null,
      tokens: 0,
      completedAt: null,
      errorCode: error.code ?? null,
    },
    outcome: { kind: 'connection-error' },
  };
}

function requestOptions(agent: Agent, signal: AbortSignal, timeoutMs: number, bodyLength: number): RequestOptions {
  return {
    method: 'POST',
    agent,
    signal,
    timeout: timeoutMs,
    headers: {
      'content-type': 'application/json',
      'content-length': bodyLength,
      'anthropic-version': '2023-06-01',
      'x-api-key': 'sk-ant-demo-not-a-key',
    },
  };
}

/** A 429 or error is ratewarden's own when it names its reason (`x-ratewarden-reason`), else the upstream's. */
function refusalKind(status: number, reason: string | null): AttemptKind {
  const local = reason !== null;
  return status === 429 ? (local ? 'local-429' : 'upstream-429') : local ? 'local-error' : 'upstream-error';
}

/** Settles the attempt once its answer has been read to the end: a 200's stream, or any other answer's body. */
function readAnswer(response: IncomingMessage, sentAt: number, signal: AbortSignal, clock: Clock, settle: Settle): void {
  const answeredAt = clock();
  const status = response.statusCode ?? 0;
  const reason = typeof response.headers['x-ratewarden-reason'] === 'string' ? response.headers['x-ratewarden-reason'] : null;
  const header = (name: string): string | undefined => {
    const value = response.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const outcome: AttemptOutcome = { kind: 'answer', status, header };
  const base = { sentAt, answeredAt, status, reason, tokens: 0, completedAt: null };
  if (status === 200) {
    readStream(response, (usage) => {
      if (signal.aborted) return settle(null);
      const complete = usage.complete && response.complete;
      settle({
        record: {
          ...base,
          kind: complete ? 'ok' : 'cut-short',
          tokens: complete ? usage.inputTokens + usage.outputTokens : 0,
          completedAt: complete ? clock() : null,
        },
        outcome,
      });
    });
    return;
  }
  response.resume();
  response.once('close', () => {
    if (signal.aborted) return settle(null);
    settle({ record: { ...base, kind: refusalKind(status, reason) }, outcome });
  });
}

/** Sends one attempt of a simulated client (a streamed Messages request) and tells how it ended; null when the run's stop cut it off. */
export function send(
  url: URL,
  body: Buffer,
  agent: Agent,
  timeoutMs: number,
  signal: AbortSignal,
  clock: Clock,
): Promise<SendResult | null> {
  const sentAt = clock();
  return new Promise((resolve) => {
    const outgoing = httpRequest(url, requestOptions(agent, signal, timeoutMs, body.length), (response) =>
      readAnswer(response, sentAt, signal, clock, resolve),
    );
    outgoing.once('timeout', () => outgoing.destroy(new Error('attempt timed out')));
    outgoing.once('error', (error: NodeJS.ErrnoException) => resolve(signal.aborted ? null : connectionFailure(sentAt, clock(), error)));
    outgoing.end(body);
  });
}
