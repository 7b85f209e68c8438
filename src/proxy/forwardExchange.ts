import type { IncomingMessage } from 'node:http';
import { upstreamRequestHeaders } from './headers.js';
import { sendLocalReply } from './localReplies.js';
import { readErrorBody } from './errorBody.js';
import { UpstreamAttempt, type AttemptRequest } from './forwardAttempt.js';
import { relayAnswer, type RelayEnds } from './forwardRelay.js';
import { ForwardState } from './forwardState.js';
import type { ExchangeRecorder, ForwardInput, ForwardResult, ForwardSetup } from './forwardTypes.js';

function errorCode(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? code : error.message;
}

/* What a request that closed without an error or an answer reports; no Error is built for the
   close every request ends with. */
const CLOSED_BEFORE_ANSWER = 'connection closed before an answer';

/**
 * One admitted request on its way to the upstream and back: the I/O around a ForwardState. Each
 * event (an attempt failing, the answer's head, the client leaving, the timeout) is a method that
 * tells the state, asks it what to do, and does it; whether to send again is the state's alone.
 */
export class ForwardExchange {
  private readonly state: ForwardState;
  private readonly what: AttemptRequest;
  private current: UpstreamAttempt | undefined;
  private timer: NodeJS.Timeout | undefined;
  private resolveWith: (result: ForwardResult) => void = () => undefined;

  constructor(
    private readonly setup: ForwardSetup,
    private readonly input: ForwardInput,
    private readonly recorder: ExchangeRecorder,
  ) {
    const { request, bodyLength, upstreamPath } = input;
    this.state = new ForwardState(request.method ?? 'GET');
    this.what = {
      method: request.method,
      path: upstreamPath,
      headers: upstreamRequestHeaders(request.rawHeaders, setup.upstream.host, bodyLength),
    };
  }

  /** Sends the request and resolves once the answer has been relayed (or abandoned) and its outcome reported. */
  run(): Promise<ForwardResult> {
    return new Promise<ForwardResult>((resolve) => {
      this.resolveWith = resolve;
      this.timer = setTimeout(() => this.timeoutExpired(), this.setup.upstreamTimeoutMs);
      this.input.response.once('close', () => this.clientClosed());
      this.send();
    });
  }

  private send(): void {
    const attempt = new UpstreamAttempt(this.state, this.setup, this.what);
    const { request } = attempt;
    this.current = attempt;
    request.once('response', (answer: IncomingMessage) => this.headArrived(answer));
    request.on('error', (error) => this.failedBeforeAnswer(attempt, errorCode(error)));
    request.once('close', () => this.failedBeforeAnswer(attempt, CLOSED_BEFORE_ANSWER));
    if (this.state.abandoned) request.destroy();
    const { body, bodyLength } = this.input;
    if (bodyLength === null) request.end();
    else request.end(body);
  }

  private timeoutExpired(): void {
    this.state.timeoutExpired();
    this.current?.request.destroy();
  }

  private clientClosed(): void {
    if (this.input.response.writableFinished) return;
    this.state.clientLeft();
    this.current?.request.destroy();
  }

  /** `code`: the error's code (ECONNRESET), or what happened when there is none. */
  private failedBeforeAnswer(attempt: UpstreamAttempt, code: string): void {
    attempt.observeWire();
    const verdict = this.state.failedBeforeAnswer(attempt.number, { code, reusedSocket: attempt.reusedSocket });
    const { response, provider } = this.input;
    const { upstream, upstreamTimeoutMs } = this.setup;
    switch (verdict.kind) {
      case 'ignore':
        return;
      case 'client-gone':
        return this.finish(() => this.recorder.cutShort(null));
      case 'resend':
        return this.send();
      case 'timed-out':
        sendLocalReply(response, provider, {
          reason: 'upstream-timeout',
          message: `the upstream ${upstream.origin} did not start answering within ${Math.round(upstreamTimeoutMs / 1000)} s (--upstream-timeout)`,
        });
        return this.finish(() => this.recorder.failed('timeout', `no answer within ${upstreamTimeoutMs} ms`, verdict.reachedUpstream));
      case 'unreachable':
        sendLocalReply(response, provider, {
          reason: 'upstream-unreachable',
          message: `the upstream ${upstream.origin} cannot be reached (${code})`,
        });
        return this.finish(() => this.recorder.failed('unreachable', code, verdict.reachedUpstream));
    }
  }

  private headArrived(answer: IncomingMessage): void {
    this.state.headArrived();
    clearTimeout(this.timer);
    const status = answer.statusCode ?? 502;
    answer.on('error', () => undefined);
    if (status !== 429) this.recorder.headArrived(status, answer.headers);
    if (this.state.clientIsGone) {
      answer.destroy();
      return this.finish(() => this.recorder.cutShort(null));
    }
    if (status === 429) return this.rateLimited(answer);
    this.relay(answer, []);
  }

  /**
   * The cooldown is durable before the client sees the 429 that caused it: a crash in between
   * must not leave a client that was told "429" facing a proxy that forgot it. The body says
   * whether the quota ran out rather than a rate limit; it is relayed as read.
   */
  private rateLimited(answer: IncomingMessage): void {
    let recorded = Promise.resolve();
    const body = readErrorBody(answer);
    this.report(() => {
      recorded = body.then((read) => this.recorder.rateLimited(answer.headers, read.quota));
    });
    void recorded.then(() => {
      if (this.input.hold429 === true) {
        answer.resume();
        return this.settle('held-429');
      }
      if (this.state.clientIsGone || (answer.destroyed && !answer.complete)) {
        // Gone while the 429 was recorded: the client must see a broken answer, not an empty one.
        answer.destroy();
        this.input.response.destroy();
        return this.settle('relayed');
      }
      void body.then((read) => this.relay(answer, read.chunks));
    });
  }

  private relay(answer: IncomingMessage, alreadyRead: readonly Buffer[]): void {
    const status = answer.statusCode ?? 502;
    const ends: RelayEnds = {
      relayed: () => this.settle('relayed'),
      read: (usage) => this.finish(() => this.recorder.answered(status, answer.headers, usage)),
      brokenOff: (seenSoFar) => this.finish(() => this.recorder.cutShort(seenSoFar)),
    };
    relayAnswer(answer, this.input.response, this.input.provider, alreadyRead, ends);
  }

  /** Reports the exchange's one outcome (later reports are dropped). */
  private report(record: () => void): void {
    if (!this.state.reportOutcome()) return;
    clearTimeout(this.timer);
    record();
  }

  /** Reports the outcome (unless one was) and ends the exchange. */
  private finish(record: () => void): void {
    this.report(record);
    this.settle('relayed');
  }

  private settle(result: ForwardResult): void {
    if (this.state.settle(result)) this.resolveWith(result);
  }
}
