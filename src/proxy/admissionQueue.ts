import type { Clock } from '../kernel/clock.js';
import type { Admission, AdmitInput, Refusal } from '../warden/types.js';
import { defaultScope } from '../core/scopes.js';
import type { QueueLine } from '../core/statusHistory.js';
import type { WardenViews } from '../warden/views.js';
import type { Warden } from '../warden/warden.js';
import { ScopeQueue } from './scopeQueue.js';

/** The sessions the live page lists per scope, the most waiting first: enough to see who floods. */
const sessionsShown = 5;

export interface QueueSettings {
  /** How long a request that lacks only budget may wait; 0 refuses at once. */
  maxWaitMs: number;
  /** How many may wait at once; beyond that, refused at once. */
  maxQueue: number;
}

/** The signal that aborts when the request's client goes away, made only when asked for (only a waiting request asks). */
export type ClientGone = () => AbortSignal;

/** What the queue asks of the warden: admissions, a scope's cooldown refusal, a reservation given back. */
export type QueueWarden = Pick<Warden, 'admit' | 'giveBack'> & { views: Pick<WardenViews, 'cooldownRefusal'> };

/**
 * The fair queues, one per scope: a request waits only on its own scope's budget, so a Haiku
 * request is never held behind Opus traffic. `--max-queue` bounds each scope's queue.
 */
export class AdmissionQueue {
  private readonly scopes = new Map<string, ScopeQueue>();
  /** Set by close: a scope first seen after the stop began is closed as it is made. */
  private closedWith: Refusal | null = null;

  constructor(
    private readonly warden: QueueWarden,
    private readonly clock: Clock,
    private readonly settings: QueueSettings,
  ) {}

  /** Requests waiting, in every scope. */
  get length(): number {
    let waiting = 0;
    for (const queue of this.scopes.values()) waiting += queue.length;
    return waiting;
  }

  /** Each scope with anyone waiting: how many, and since when the longest has waited (status, metrics). */
  waitingByScope(): { scope: string; length: number; oldestSince: number }[] {
    const waiting: { scope: string; length: number; oldestSince: number }[] = [];
    for (const [scope, queue] of this.scopes) {
      const oldestSince = queue.oldestSince;
      if (oldestSince !== null) waiting.push({ scope, length: queue.length, oldestSince });
    }
    return waiting;
  }

  admit(input: AdmitInput, clientGone: ClientGone): Promise<Admission | null> {
    const scope = input.scope ?? defaultScope;
    let queue = this.scopes.get(scope);
    if (queue === undefined) {
      queue = new ScopeQueue(scope, this.warden, this.clock, this.settings);
      if (this.closedWith !== null) queue.close(this.closedWith);
      this.scopes.set(scope, queue);
    }
    return queue.admit(input, clientGone);
  }

  /** Who waits now, per scope and session, each session named by `label` (the live page's queue): the longest first. */
  queueLines(label: (session: string) => string): QueueLine[] {
    const now = this.clock();
    const lines: QueueLine[] = [];
    for (const [scope, queue] of this.scopes) {
      const oldestSince = queue.oldestSince;
      if (oldestSince === null) continue;
      const sessions = queue.bySession.slice(0, sessionsShown).map(({ session, length }) => ({ session: label(session), length }));
      lines.push({ scope, length: queue.length, oldestWaitMs: Math.max(0, now - oldestSince), sessions });
    }
    return lines.sort((a, b) => b.length - a.length || b.oldestWaitMs - a.oldestWaitMs);
  }

  /** Budget may have come back (a request settled): the head of each waiting scope looks again. */
  nudge(): void {
    for (const [scope, queue] of this.scopes) {
      if (queue.length > 0) queue.nudge();
      else if (queue.idle) this.scopes.delete(scope);
    }
  }

  close(refusal: Refusal): void {
    this.closedWith = refusal;
    for (const queue of this.scopes.values()) queue.close(refusal);
  }
}
