import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const drainCheckMs = 50;

/** The requests being handled, so that a stop can wait for them, then cut off the rest. */
export class InFlightRequests {
  private readonly pending = new Set<Promise<void>>();
  private cutOffRequested = false;

  get size(): number {
    return this.pending.size;
  }

  track(work: Promise<void>): void {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  /** Ends a drain's grace period at once. */
  cutOff(): void {
    this.cutOffRequested = true;
  }

  /**
   * Waits up to `graceMs` for every request to finish, closing connections as they fall idle;
   * then destroys the remaining connections, which makes each request settle as aborted, and
   * waits for those settlements. Resolves with the number that had to be cut off.
   */
  async drain(server: Server, graceMs: number): Promise<number> {
    const deadline = Date.now() + graceMs;
    while (this.pending.size > 0 && Date.now() < deadline && !this.cutOffRequested) {
      server.closeIdleConnections();
      await sleep(Math.min(drainCheckMs, Math.max(1, deadline - Date.now())));
    }
    const cut = this.pending.size;
    server.closeAllConnections();
    await Promise.allSettled([...this.pending]);
    return cut;
  }
}
