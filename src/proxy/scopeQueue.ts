import { formatDuration } from '../kernel/durations.js';
import type { Clock } from '../kernel/clock.js';
import type { Admission, AdmitInput, Refusal } from '../warden/types.js';
import { FairOrder, type QueuedRequest } from '../core/queueOrder.js';
import type { ClientGone, QueueSettings, QueueWarden } from './admissionQueue.js';

/** The head of the queue looks again no sooner than this after a refusal, whatever the refill time says. */
const minimumRetryMs = 10;

/** ...and no later than this: a settle elsewhere (another worker, a second tenant's refill) is not announced. */
const maximumRetryMs = 1_000;

interface Waiter extends QueuedRequest {
  input: AdmitInput;
  enqueuedAt: number;
  lastRefusal: Extract<Admission, { kind: 'rejected' }>;
  /** When lastRefusal was decided: its wait counts from then. */
  refusedAt: number;
  settle: (admission: Admission | null) => void;
  fail: (error: unknown) => void;
  release: () => void;
}

/** A newcomer's outcome, boxed so that awaiting the decision does not await a queued request's wait. */
interface Decided {
  outcome: Promise<Admission | null>;
}

const decidedNow = (admission: Admission | null): Decided => ({ outcome: Promise.resolve(admission) });

/**
 * One scope's fair queue of requests that lack only budget, or wait for the half-open probe's
 * answer (reason probe; the probe's head nudges the queue): round-robin across sessions,
 * interactive before batch (core/queueOrder.ts). Only the head is
 * tried, so a large request is never overtaken by small ones that happen to fit; the head is
 * tried again when the refill should have made room and whenever a request settles. A cooldown
 * is never waited out: it refuses the newcomer and everyone waiting at once. A waiter whose
 * client leaves is dropped before anything is reserved for it. The queue counts no refusal: the
 * proxy counts each where it answers it (handleRequest.ts), once.
 */
export class ScopeQueue {
  private readonly waiting: Waiter[] = [];
  /** Who is served next: round-robin by session, interactive first (core/queueOrder.ts). */
  private readonly order = new FairOrder<Waiter>();
  private retryTimer: NodeJS.Timeout | null = null;
  private pumping = false;
  private pumpAgain = false;
  /**
   * Newcomers decide one after another: admits are asynchronous, and a newcomer refused for
   * budget must join the queue before the next newcomer decides, or a small one behind it could
   * be admitted first. An admitted newcomer ends its turn as soon as its transaction decided,
   * before its COMMIT: the next one's transaction is asked after it, so it runs after it (on
   * SQLite in the same group commit, on PostgreSQL behind the scope's row lock) and sees its
   * reservation. Waiting for each COMMIT instead put one admission in each group commit. (A
   * PostgreSQL transaction the server rolls back and runs again may then decide after the next
   * newcomer: a rare slip of the order, never of the budget.)
   */
  private turn: Promise<void> = Promise.resolve();
  /** Set by close: a stopping proxy admits nobody who comes to the queue after it. */
  private closedWith: Refusal | null = null;

  constructor(
    private readonly scope: string,
    private readonly warden: QueueWarden,
    private readonly clock: Clock,
    private readonly settings: QueueSettings,
  ) {}

  get length(): number {
    return this.waiting.length;
  }

  /** When the longest-waiting request came; null when nobody waits. */
  get oldestSince(): number | null {
    let oldest: number | null = null;
    for (const waiter of this.waiting) if (oldest === null || waiter.enqueuedAt < oldest) oldest = waiter.enqueuedAt;
    return oldest;
  }

  /** How many wait from each session (the fair queue's unit), the most first. */
  get bySession(): { session: string; length: number }[] {
    const counts = new Map<string, number>();
    for (const waiter of this.waiting) counts.set(waiter.session, (counts.get(waiter.session) ?? 0) + 1);
    return [...counts]
      .map(([session, length]) => ({ session, length }))
      .sort((a, b) => b.length - a.length || a.session.localeCompare(b.session));
  }

  /** Nobody waits and nothing is scheduled: the queue may be dropped. */
  get idle(): boolean {
    return this.waiting.length === 0 && this.retryTimer === null && !this.pumping && this.deciding === 0;
  }

  /** Newcomers whose turn is pending or running. */
  private deciding = 0;

  /** Admitted, refused, or null when the client went away while waiting. */
  async admit(input: AdmitInput, clientGone: ClientGone): Promise<Admission | null> {
    const previous = this.turn;
    let endTurn = (): void => undefined;
    this.turn = new Promise<void>((resolve) => {
      endTurn = resolve;
    });
    this.deciding += 1;
    let decided: Decided;
    try {
      await previous;
      decided = await this.decide(input, clientGone, endTurn);
    } finally {
      this.deciding -= 1;
      endTurn();
    }
    // A waiter is in the queue before its turn ends; waiting for its budget is not part of the turn.
    return decided.outcome;
  }

  /** A newcomer's turn: admitted, refused, or in the queue (the outcome then settles when it leaves it). `endTurn`: once admitted, before its COMMIT. */
  private async decide(input: AdmitInput, clientGone: ClientGone, endTurn: () => void): Promise<Decided> {
    // A request still sending its body when the stop began: answered now, not left to wait for budget until the stop cuts it off.
    if (this.closedWith !== null) return decidedNow(this.closedWith);
    if (this.waiting.length === 0) {
      const admission = await this.warden.admit(input, false, (decision) => {
        if (decision.kind === 'admitted') endTurn();
      });
      if (admission.kind === 'admitted') return decidedNow(admission);
      if (admission.reason === 'cooldown' || this.settings.maxWaitMs <= 0 || this.settings.maxQueue <= 0) return decidedNow(admission);
      if (this.closedWith !== null) return decidedNow(this.closedWith);
      return { outcome: this.enqueue(input, admission, clientGone) };
    }
    // Someone is ahead: never jump the queue, but a cooldown still refuses at once.
    const cooling = await this.warden.views.cooldownRefusal(this.scope);
    if (cooling !== null) return decidedNow(cooling);
    if (this.closedWith !== null) return decidedNow(this.closedWith);
    const head = this.order.head(this.waiting);
    // Everyone ahead was admitted meanwhile: this one is the head now.
    if (head === undefined) return this.decide(input, clientGone, endTurn);
    if (this.waiting.length >= this.settings.maxQueue) {
      // Another request's refusal, as old as its last retry: what the headers show is read afresh.
      return decidedNow({
        ...withoutShown(head.lastRefusal),
        retryAfterMs: this.waitLeft(head),
        message: `${this.waiting.length} requests are already waiting for budget (--max-queue ${this.settings.maxQueue}); ${head.lastRefusal.message}`,
      });
    }
    return { outcome: this.enqueue(input, head.lastRefusal, clientGone) };
  }

  /**
   * The queue's estimate of how long until a request could go: what is left of the head's last
   * refusal's wait (the head is tried again at least every second, so it is never staler).
   */
  private waitLeft(head: Waiter): number {
    return Math.max(1, head.lastRefusal.retryAfterMs - (this.clock() - head.refusedAt));
  }

  /** Budget may have come back (a request settled): the head looks again now. */
  nudge(): void {
    if (this.waiting.length === 0) return;
    this.scheduleRetry(0);
  }

  /** Refuses everyone still waiting, and everyone who comes after (the proxy is stopping). */
  close(refusal: Refusal): void {
    this.closedWith = refusal;
    for (const waiter of this.waiting.splice(0)) {
      waiter.release();
      // The proxy is stopping: they are answered 503, not counted as refusals (handleRequest.ts).
      waiter.settle(refusal);
    }
    this.clearRetry();
  }

  private enqueue(input: AdmitInput, lastRefusal: Refusal, clientGone: ClientGone): Promise<Admission | null> {
    return new Promise<Admission | null>((resolve, reject) => {
      const enqueuedAt = this.clock();
      const gone = clientGone();
      const onGone = (): void => {
        this.remove(waiter);
        resolve(null);
      };
      const deadline = setTimeout(() => {
        const latest = this.waiting[0] ?? waiter;
        const retryAfterMs = this.waitLeft(latest);
        this.remove(waiter);
        const waited = formatDuration(this.clock() - enqueuedAt);
        const refusal = latest.lastRefusal;
        const forWhat = refusal.reason === 'probe' ? "for the probe's answer" : 'for budget';
        resolve({
          ...withoutShown(refusal),
          retryAfterMs,
          message: `waited ${waited} ${forWhat} (--max-wait ${formatDuration(this.settings.maxWaitMs)}): ${refusal.message}`,
        });
      }, this.settings.maxWaitMs);
      const waiter: Waiter = {
        session: input.session ?? '',
        priority: input.priority ?? 'interactive',
        seq: this.order.nextSeq(),
        input,
        enqueuedAt,
        lastRefusal,
        refusedAt: enqueuedAt,
        settle: resolve,
        fail: reject,
        release: () => {
          clearTimeout(deadline);
          gone.removeEventListener('abort', onGone);
        },
      };
      if (gone.aborted) {
        clearTimeout(deadline);
        resolve(null);
        return;
      }
      gone.addEventListener('abort', onGone, { once: true });
      this.waiting.push(waiter);
      if (this.waiting.length === 1) this.scheduleRetry(lastRefusal.retryAfterMs);
    });
  }

  private remove(waiter: Waiter): void {
    const index = this.waiting.indexOf(waiter);
    if (index < 0) return;
    waiter.release();
    this.waiting.splice(index, 1);
    // The head left: the next one may fit now.
    if (this.order.left(waiter)) this.scheduleRetry(0);
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private scheduleRetry(afterMs: number): void {
    this.clearRetry();
    if (this.waiting.length === 0) return;
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = null;
        void this.pump();
      },
      Math.min(maximumRetryMs, Math.max(afterMs === 0 ? 0 : minimumRetryMs, afterMs)),
    );
  }

  /**
   * Admits from the head for as long as the head fits. One pump at a time, and the head leaves
   * the queue only once its admission is back, so nobody is admitted twice or out of order. A
   * head that left while its admission was being decided (its client went away, the proxy is
   * stopping) has its reservation released at once, since nobody will forward it.
   */
  private async pump(): Promise<void> {
    if (this.pumping) {
      // A settle freed budget while this pump's admit may have read the state before it: one
      // more pass, so that the waiters do not sleep until the retry timer.
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        await this.pumpOnce();
      } while (this.pumpAgain && this.waiting.length > 0);
    } finally {
      this.pumping = false;
    }
  }

  private async pumpOnce(): Promise<void> {
    for (let head = this.order.head(this.waiting); head !== undefined; head = this.order.head(this.waiting)) {
      let admission: Admission;
      try {
        admission = await this.warden.admit(head.input, false);
      } catch (error) {
        // The store cannot be used: nobody waiting can be recorded, so nobody is forwarded.
        for (const waiter of this.waiting.splice(0)) {
          waiter.release();
          waiter.fail(error);
        }
        return;
      }
      if (!this.waiting.includes(head)) {
        if (admission.kind === 'admitted') await this.warden.giveBack(admission.requestId);
        continue;
      }
      if (admission.kind === 'admitted') {
        this.waiting.splice(this.waiting.indexOf(head), 1);
        this.order.served(head, this.waiting);
        head.release();
        head.settle(admission);
        continue;
      }
      if (admission.reason === 'cooldown' || admission.reason === 'quota') {
        for (const waiter of this.waiting.splice(0)) {
          waiter.release();
          waiter.settle(admission);
        }
        return;
      }
      head.lastRefusal = admission;
      head.refusedAt = this.clock();
      this.scheduleRetry(admission.retryAfterMs);
      return;
    }
  }
}

/** A refusal answered later than it was decided: without what its headers showed then (the answer reads them afresh). */
function withoutShown(refusal: Refusal): Refusal {
  const { shown: _decidedThen, ...rest } = refusal;
  return rest;
}
