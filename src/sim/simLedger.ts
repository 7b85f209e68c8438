import { EventWindow } from './eventWindow.js';
import type { LimitSnapshot } from './limitHeaders.js';

export interface SimStats {
  /** Every request received, answered or not. */
  requests: number;
  /** 429 answers sent, for any reason. */
  rateLimited: number;
  /** Requests that arrived while the window was exhausted: what a well-behaved client never sends. */
  receivedWhileExhausted: number;
  /** Input plus output tokens of the requests that were answered. */
  tokensServed: number;
  inputTokens: number;
  outputTokens: number;
  /** Arrival time (per the injected clock) of every request, in order. */
  arrivals: number[];
}

export interface LedgerLimits {
  tokenLimit: number;
  requestLimit: number | undefined;
  windowMs: number;
}

function emptyStats(): SimStats {
  return { requests: 0, rateLimited: 0, receivedWhileExhausted: 0, tokensServed: 0, inputTokens: 0, outputTokens: 0, arrivals: [] };
}

/** The simulated upstream's accounting: its sliding windows and the counters tests read. */
export class SimLedger {
  private readonly tokens: EventWindow;
  private readonly requests: EventWindow;
  private counters = emptyStats();

  constructor(private readonly limits: LedgerLimits) {
    this.tokens = new EventWindow(limits.windowMs);
    this.requests = new EventWindow(limits.windowMs);
  }

  /** Counts an arrival; returns whether the window was already exhausted when it came. */
  arrive(at: number): boolean {
    this.counters.requests++;
    this.counters.arrivals.push(at);
    const exhausted = this.isExhausted(at);
    if (exhausted) this.counters.receivedWhileExhausted++;
    return exhausted;
  }

  admit(at: number, inputTokens: number): void {
    this.requests.add(at, 1);
    this.tokens.add(at, inputTokens);
    this.counters.inputTokens += inputTokens;
    this.counters.tokensServed += inputTokens;
  }

  generate(at: number, outputTokens: number): void {
    this.tokens.add(at, outputTokens);
    this.counters.outputTokens += outputTokens;
    this.counters.tokensServed += outputTokens;
  }

  countRateLimited(): void {
    this.counters.rateLimited++;
  }

  isExhausted(at: number): boolean {
    const { tokenLimit, requestLimit } = this.limits;
    return this.tokens.usage(at) >= tokenLimit || (requestLimit !== undefined && this.requests.usage(at) >= requestLimit);
  }

  /** Milliseconds until both windows have room again; 0 when they already do. */
  msUntilRoom(at: number): number {
    const { tokenLimit, requestLimit } = this.limits;
    const forRequests = requestLimit === undefined ? 0 : this.requests.msUntilBelow(requestLimit, at);
    return Math.max(this.tokens.msUntilBelow(tokenLimit, at), forRequests);
  }

  usage(at: number): { tokens: number; requests: number } {
    return { tokens: this.tokens.usage(at), requests: this.requests.usage(at) };
  }

  snapshot(at: number): LimitSnapshot {
    return {
      now: at,
      tokenLimit: this.limits.tokenLimit,
      tokensUsed: this.tokens.usage(at),
      tokensResetMs: this.tokens.msUntilEmpty(at),
      requestLimit: this.limits.requestLimit,
      requestsUsed: this.requests.usage(at),
      requestsResetMs: this.requests.msUntilEmpty(at),
    };
  }

  stats(): SimStats {
    return { ...this.counters, arrivals: [...this.counters.arrivals] };
  }

  resetStats(): void {
    this.counters = emptyStats();
  }
}
