import { describe, expect, it } from 'vitest';
import { ForwardState } from '../../../src/proxy/forwardState.js';

const staleReset = { code: 'ECONNRESET', reusedSocket: true };

/** A state whose first attempt went out on a kept-alive socket, with its wire where `reach` leaves it. */
function firstAttempt(method: string, reach: (state: ForwardState, attempt: number) => void = () => undefined) {
  const state = new ForwardState(method);
  const attempt = state.attemptStarted();
  reach(state, attempt);
  return { state, attempt };
}

describe('ForwardState: a request whose bytes may have reached the upstream is never resent', () => {
  it('a POST that never left (no socket yet, or queued on one) may be sent again after a stale kept-alive socket', () => {
    for (const reach of [() => undefined, (state: ForwardState, attempt: number) => state.queued(attempt)]) {
      const { state, attempt } = firstAttempt('POST', reach);
      expect(state.failedBeforeAnswer(attempt, staleReset)).toEqual({ kind: 'resend' });
      expect(state.failedBeforeAnswer(attempt, { code: 'EPIPE', reusedSocket: true })).toEqual({ kind: 'resend' });
    }
  });

  it('a POST that may have reached the upstream is not resent: unreachable, and reported as having reached it', () => {
    const { state, attempt } = firstAttempt('POST', (s, n) => {
      s.queued(n);
      s.mayHaveReached(n);
    });
    expect(state.failedBeforeAnswer(attempt, staleReset)).toEqual({ kind: 'unreachable', reachedUpstream: true });
  });

  it('an idempotent method may be resent even when it may have reached the upstream', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']) {
      const { state, attempt } = firstAttempt(method, (s, n) => s.mayHaveReached(n));
      expect(state.failedBeforeAnswer(attempt, staleReset)).toEqual({ kind: 'resend' });
    }
    const { state, attempt } = firstAttempt('PATCH', (s, n) => s.mayHaveReached(n));
    expect(state.failedBeforeAnswer(attempt, staleReset)).toEqual({ kind: 'unreachable', reachedUpstream: true });
  });

  it('resends only after a stale kept-alive socket: a fresh connection, or another error, is unreachable', () => {
    const fresh = firstAttempt('GET');
    expect(fresh.state.failedBeforeAnswer(fresh.attempt, { code: 'ECONNREFUSED', reusedSocket: false })).toEqual({
      kind: 'unreachable',
      reachedUpstream: false,
    });
    const other = firstAttempt('GET');
    expect(other.state.failedBeforeAnswer(other.attempt, { code: 'ETIMEDOUT', reusedSocket: true })).toEqual({
      kind: 'unreachable',
      reachedUpstream: false,
    });
  });

  it('resends at most once: the second attempt starts unsent, and its failure is final', () => {
    const { state, attempt } = firstAttempt('GET', (s, n) => s.mayHaveReached(n));
    expect(state.failedBeforeAnswer(attempt, staleReset)).toEqual({ kind: 'resend' });
    const second = state.attemptStarted();
    expect(second).toBe(2);
    expect(state.failedBeforeAnswer(second, staleReset)).toEqual({ kind: 'unreachable', reachedUpstream: false });
  });

  it('ignores news of an earlier attempt: its bytes do not make the resend count as reached, its failure changes nothing', () => {
    const { state, attempt } = firstAttempt('POST');
    expect(state.failedBeforeAnswer(attempt, staleReset)).toEqual({ kind: 'resend' });
    const second = state.attemptStarted();
    state.mayHaveReached(attempt);
    expect(state.failedBeforeAnswer(attempt, { code: 'connection closed before an answer', reusedSocket: true })).toEqual({
      kind: 'ignore',
    });
    expect(state.failedBeforeAnswer(second, { code: 'ECONNREFUSED', reusedSocket: false })).toEqual({
      kind: 'unreachable',
      reachedUpstream: false,
    });
  });

  it('once the answer head arrived, or the outcome was reported, a failure is no longer "before an answer"', () => {
    const answered = firstAttempt('POST');
    answered.state.headArrived();
    expect(answered.state.failedBeforeAnswer(answered.attempt, staleReset)).toEqual({ kind: 'ignore' });
    const reported = firstAttempt('POST');
    expect(reported.state.reportOutcome()).toBe(true);
    expect(reported.state.failedBeforeAnswer(reported.attempt, staleReset)).toEqual({ kind: 'ignore' });
  });

  it('an abandoned exchange is never resent: the client leaving wins over the timeout, which says whether the upstream had it', () => {
    const gone = firstAttempt('GET');
    gone.state.timeoutExpired();
    gone.state.clientLeft();
    expect(gone.state.abandoned).toBe(true);
    expect(gone.state.failedBeforeAnswer(gone.attempt, staleReset)).toEqual({ kind: 'client-gone' });
    const late = firstAttempt('GET', (s, n) => s.mayHaveReached(n));
    late.state.timeoutExpired();
    expect(late.state.failedBeforeAnswer(late.attempt, staleReset)).toEqual({ kind: 'timed-out', reachedUpstream: true });
    const early = firstAttempt('POST', (s, n) => s.queued(n));
    early.state.timeoutExpired();
    expect(early.state.failedBeforeAnswer(early.attempt, staleReset)).toEqual({ kind: 'timed-out', reachedUpstream: false });
  });

  it('the wire only moves forward within an attempt: queued after may-have-reached changes nothing', () => {
    const { state, attempt } = firstAttempt('POST', (s, n) => {
      s.mayHaveReached(n);
      s.queued(n);
    });
    expect(state.failedBeforeAnswer(attempt, staleReset)).toEqual({ kind: 'unreachable', reachedUpstream: true });
  });

  it('reports one outcome and settles once', () => {
    const { state } = firstAttempt('POST');
    expect(state.abandoned).toBe(false);
    expect([state.reportOutcome(), state.reportOutcome()]).toEqual([true, false]);
    expect([state.settle('held-429'), state.settle('relayed')]).toEqual([true, false]);
  });
});
