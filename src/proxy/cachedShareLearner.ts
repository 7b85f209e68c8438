import { cachedAfterShareOf, cachedShareOf, expectedShare, type SessionTurn, type ShareSample } from '../core/cachedShare.js';
import type { Clock } from '../kernel/clock.js';
import type { TokenUsage } from './providers/types.js';

/** Claude Code names its conversation in every request: a conversation's prefix is what the prompt cache hits. */
export const sessionHeader = 'x-claude-code-session-id';

/** Enough for every session of a large fleet; the oldest seen is forgotten first. */
const maxSessions = 10_000;
/** A scope's recent shares, for sessions it has not seen yet. */
const samplesPerScope = 20;

/**
 * The cached share of each session's and scope's input, learned from settled usage. In memory
 * on purpose: it is not rate-limit-critical. Forgetting it (a restart, a session evicted, five
 * minutes of silence) only makes the next estimate charge the whole input, which holds more
 * of the input limit than the upstream will, never less; the first settle teaches it again.
 */
export class CachedShareLearner {
  private readonly sessions = new Map<string, SessionTurn>();
  private readonly scopes = new Map<string, ShareSample[]>();

  constructor(private readonly clock: Clock) {}

  /** The share of a request's `estimatedInput` the cache is expected to serve, or null: charge it all. */
  expected(scope: string, session: string | null, estimatedInput: number): number | null {
    const turn = session === null ? undefined : this.sessions.get(sessionKey(scope, session));
    return expectedShare(turn, this.scopes.get(scope) ?? [], estimatedInput, this.clock());
  }

  /** A settled answer's usage; `estimatedInput` is what its request's input was estimated at. */
  learn(scope: string, session: string | null, estimatedInput: number, usage: TokenUsage): void {
    const at = this.clock();
    if (session !== null) {
      const key = sessionKey(scope, session);
      this.sessions.delete(key);
      this.sessions.set(key, { at, cachedAfterShare: cachedAfterShareOf(usage), estimatedInput });
      if (this.sessions.size > maxSessions) this.sessions.delete(this.sessions.keys().next().value as string);
    }
    const share = cachedShareOf(usage);
    if (share === null) return;
    const sample = { at, share };
    const recent = this.scopes.get(scope) ?? [];
    recent.push(sample);
    if (recent.length > samplesPerScope) recent.shift();
    this.scopes.set(scope, recent);
  }
}

function sessionKey(scope: string, session: string): string {
  return `${scope}\n${session}`;
}

/** The session a request names, if any (one value, of sane length). */
export function sessionOf(headers: Record<string, string | string[] | undefined>): string | null {
  const value = headers[sessionHeader];
  return typeof value === 'string' && value.length > 0 && value.length <= 200 ? value : null;
}
