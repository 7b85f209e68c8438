import type { ForwardResult } from './forwardTypes.js';

/**
 * How far the current attempt's bytes got toward the upstream:
 * - `unsent`: no socket carries it yet;
 * - `queued`: handed to a socket that has not carried a byte of it (a fresh connection still
 *   being established, or a kept-alive one that has taken nothing yet): nothing can have arrived;
 * - `may-have-reached`: the connection was established, or the kept-alive socket took bytes of
 *   it: the upstream may have read it, and may serve it, whatever happens next.
 * It only ever moves forward within an attempt.
 */
export type Wire = 'unsent' | 'queued' | 'may-have-reached';

/** How the current attempt failed before any answer: the error's code (ECONNRESET), or what happened when there is none. */
export interface AttemptFailure {
  code: string;
  /** The attempt went out on a kept-alive socket that an earlier request had used. */
  reusedSocket: boolean;
}

/** What the exchange does about an attempt that failed before any answer. */
export type FailureVerdict =
  | { kind: 'ignore' }
  | { kind: 'client-gone' }
  | { kind: 'timed-out'; reachedUpstream: boolean }
  | { kind: 'resend' }
  | { kind: 'unreachable'; reachedUpstream: boolean };

/* A kept-alive socket the upstream closed just as it was reused fails with one of these. */
const STALE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE']);

/** Methods whose repetition does no harm (RFC 9110 §9.2.2): the only ones resent after bytes may have gone out. */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * The state of one forwarded request, and the only place that decides whether it may be sent
 * again. No I/O: the forwarder tells it what happened (each transition a method) and asks it what
 * to do. Attempts are numbered from 1; news about an earlier attempt changes nothing.
 */
export class ForwardState {
  private attempt = 0;
  private wire: Wire = 'unsent';
  private answered = false;
  private clientGone = false;
  private timedOut = false;
  private outcomeReported = false;
  private result: ForwardResult | null = null;

  constructor(private readonly method: string) {}

  /** A new attempt goes out (the first, or a resend): nothing of it has left yet. Its number. */
  attemptStarted(): number {
    this.attempt += 1;
    this.wire = 'unsent';
    return this.attempt;
  }

  /** The attempt was handed to a socket that has not carried any of it yet. */
  queued(attempt: number): void {
    if (attempt === this.attempt && this.wire === 'unsent') this.wire = 'queued';
  }

  /** The attempt's connection was established, or its kept-alive socket took bytes of it. */
  mayHaveReached(attempt: number): void {
    if (attempt === this.attempt) this.wire = 'may-have-reached';
  }

  /** The upstream's answer head arrived: from here on no failure is "before an answer". */
  headArrived(): void {
    this.answered = true;
  }

  /** The client closed its connection before the answer was complete. */
  clientLeft(): void {
    this.clientGone = true;
  }

  /** `--upstream-timeout` passed without an answer head. */
  timeoutExpired(): void {
    this.timedOut = true;
  }

  /** Whether the exchange was abandoned (client gone, or timed out): an attempt started now is cut at once. */
  get abandoned(): boolean {
    return this.clientGone || this.timedOut;
  }

  get clientIsGone(): boolean {
    return this.clientGone;
  }

  /** Claims the one report of the exchange's outcome: true the first time only. */
  reportOutcome(): boolean {
    if (this.outcomeReported) return false;
    this.outcomeReported = true;
    return true;
  }

  /** Claims the exchange's end with `result`: true the first time only (the forwarder resolves once). */
  settle(result: ForwardResult): boolean {
    if (this.result !== null) return false;
    this.result = result;
    return true;
  }

  /** What to do about `attempt` failing before any answer head arrived. */
  failedBeforeAnswer(attempt: number, failure: AttemptFailure): FailureVerdict {
    if (attempt !== this.attempt || this.answered || this.outcomeReported) return { kind: 'ignore' };
    if (this.clientGone) return { kind: 'client-gone' };
    const reachedUpstream = this.wire === 'may-have-reached';
    if (this.timedOut) return { kind: 'timed-out', reachedUpstream };
    if (this.mayResend(failure)) return { kind: 'resend' };
    return { kind: 'unreachable', reachedUpstream };
  }

  /**
   * THE rule: never resend what may have reached the upstream (unless its method is idempotent).
   * Only a kept-alive socket the upstream closed just as it was reused is worth a second attempt
   * (one, on a new connection): any other failure would fail again.
   */
  private mayResend(failure: AttemptFailure): boolean {
    const staleSocket = failure.reusedSocket && this.attempt === 1 && STALE_SOCKET_CODES.has(failure.code);
    const harmless = this.wire !== 'may-have-reached' || IDEMPOTENT_METHODS.has(this.method);
    return staleSocket && harmless;
  }
}
