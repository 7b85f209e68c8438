/**
 * The order a group's queue serves its waiting requests in: round-robin across sessions, so
 * that a burst from one session delays every other session by at most one of its requests each
 * time; interactive before batch (`x-ratewarden-priority: batch`), with one batch turn after
 * every `batchEvery` interactive ones so that batch work is slowed, never starved. The queue
 * tries only the request chosen here and keeps it chosen until it is admitted or leaves, so a
 * large request is never overtaken by smaller ones that happen to fit.
 */
export type Priority = 'interactive' | 'batch';

export interface QueuedRequest {
  session: string;
  priority: Priority;
  /** Arrival order in the queue. */
  seq: number;
}

export interface Turns {
  /** The turn at which each session was last served (absent: never, or long ago). */
  lastServed: ReadonlyMap<string, number>;
  /** Interactive turns served since the last batch turn. */
  interactiveSinceBatch: number;
}

/** By default one batch request goes after every four interactive ones while both wait. */
export const defaultBatchEvery = 4;

/** The index in `waiting` of the request to serve next, or -1 when nobody waits. */
export function nextInLine(waiting: readonly QueuedRequest[], turns: Turns, batchEvery: number = defaultBatchEvery): number {
  if (waiting.length === 0) return -1;
  const hasInteractive = waiting.some((entry) => entry.priority === 'interactive');
  const hasBatch = waiting.some((entry) => entry.priority === 'batch');
  const priority: Priority = hasInteractive && (!hasBatch || turns.interactiveSinceBatch < batchEvery) ? 'interactive' : 'batch';
  let best = -1;
  for (let index = 0; index < waiting.length; index++) {
    const entry = waiting[index] as QueuedRequest;
    if (entry.priority !== priority) continue;
    if (best < 0 || before(entry, waiting[best] as QueuedRequest, turns)) best = index;
  }
  return best;
}

/** The session served least recently goes first; within a session, and between sessions never served, arrival order. */
function before(a: QueuedRequest, b: QueuedRequest, turns: Turns): boolean {
  if (a.session === b.session) return a.seq < b.seq;
  const servedA = turns.lastServed.get(a.session) ?? -1;
  const servedB = turns.lastServed.get(b.session) ?? -1;
  return servedA !== servedB ? servedA < servedB : a.seq < b.seq;
}

/** The turns after `served` was admitted as turn number `turn`. */
export function afterServed(turns: Turns, served: QueuedRequest, turn: number): Turns {
  const lastServed = new Map(turns.lastServed);
  lastServed.set(served.session, turn);
  return { lastServed, interactiveSinceBatch: served.priority === 'batch' ? 0 : turns.interactiveSinceBatch + 1 };
}

/** Forgets the sessions nobody waits for any more, once many are remembered: what one client can make the queue remember is bounded. */
export function forgetIdleSessions(turns: Turns, waiting: readonly QueuedRequest[], keep: number): Turns {
  if (turns.lastServed.size <= keep) return turns;
  const waitingSessions = new Set(waiting.map((entry) => entry.session));
  const lastServed = new Map([...turns.lastServed].filter(([session]) => waitingSessions.has(session)));
  return { ...turns, lastServed };
}

/** Sessions whose last turn a queue remembers while they wait for nothing. */
const rememberedSessions = 1_024;

/**
 * One queue's order, over the functions above: the chosen head stays chosen until it is served
 * or leaves (so a large request is never overtaken), and the turns are kept here.
 */
export class FairOrder<Entry extends QueuedRequest> {
  private chosen: Entry | null = null;
  private turns: Turns = { lastServed: new Map(), interactiveSinceBatch: 0 };
  private turnsServed = 0;
  private arrivals = 0;

  nextSeq(): number {
    return this.arrivals++;
  }

  /** Who is served next among `waiting`. */
  head(waiting: readonly Entry[]): Entry | undefined {
    if (this.chosen === null || !waiting.includes(this.chosen)) {
      const index = nextInLine(waiting, this.turns);
      this.chosen = index < 0 ? null : (waiting[index] as Entry);
    }
    return this.chosen ?? undefined;
  }

  /** `entry` left without being served; true when it was the head (the next one may fit now). */
  left(entry: Entry): boolean {
    if (entry !== this.chosen) return false;
    this.chosen = null;
    return true;
  }

  /** `entry` was admitted; `waiting` no longer holds it. */
  served(entry: Entry, waiting: readonly Entry[]): void {
    this.chosen = null;
    this.turns = forgetIdleSessions(afterServed(this.turns, entry, this.turnsServed++), waiting, rememberedSessions);
  }
}
