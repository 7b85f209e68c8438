import { cooldownLengthMs } from '../core/backoff.js';
import type { LimiterPolicy } from '../core/types.js';
import type { Admission } from './types.js';
import type { Upstream429Input } from './eventTypes.js';

export interface Held429 {
  requestId: number;
  input: Upstream429Input;
  heldAt: number;
}

/** A refusal is never shorter than this, so that clients do not spin while the store is stuck. */
const minimumRefusalMs = 1_000;

/**
 * Upstream 429s that met a store it could not write (locked past busy_timeout, disk full, server gone).
 * Dropping one would let the next requests through into an exhausted window, so each is held
 * in memory until the warden manages to record it, and while any is held every admission is
 * refused locally, as during a cooldown: the store failing never opens the gate.
 */
export class Held429s {
  private readonly held = new Map<number, Held429>();

  get size(): number {
    return this.held.size;
  }

  hold(requestId: number, input: Upstream429Input, now: number): void {
    if (!this.held.has(requestId)) this.held.set(requestId, { requestId, input, heldAt: now });
  }

  /** One held by an earlier process (held429File.ts), with the time it came. */
  restore(entry: Held429): void {
    if (!this.held.has(entry.requestId)) this.held.set(entry.requestId, entry);
  }

  entries(): Held429[] {
    return [...this.held.values()];
  }

  /** The local 429 while anything is held: at least as long as the cooldown the 429 will start. */
  refusal(clock: () => number, policy: Pick<LimiterPolicy, 'backoffBaseMs' | 'backoffMaxMs' | 'backoffJitter'>): Admission | null {
    if (this.held.size === 0) return null;
    const now = clock();
    let until = 0;
    for (const { input, heldAt } of this.held.values())
      until = Math.max(until, heldAt + cooldownLengthMs(1, input.retryAfterMs, policy, 0));
    return {
      kind: 'rejected',
      reason: 'cooldown',
      retryAfterMs: Math.max(minimumRefusalMs, until - now),
      message: 'the upstream answered 429 and the rate-limit store could not record it yet; every request is refused until it is recorded',
    };
  }

  /**
   * Records the held 429s oldest first through `record`, which rejects while the store still
   * cannot be written; what it could not record stays held. Returns what `record` returned.
   */
  async recordWith<T>(record: (requestId: number, input: Upstream429Input) => Promise<T>): Promise<T[]> {
    const recorded: T[] = [];
    for (const entry of [...this.held.values()]) {
      recorded.push(await record(entry.requestId, entry.input));
      this.held.delete(entry.requestId);
    }
    return recorded;
  }
}
