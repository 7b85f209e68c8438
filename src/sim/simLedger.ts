import { createAllowance, type Allowance, type LimitShape } from './allowance.js';
import type { LimitSnapshot } from './limitHeaders.js';

export interface SimStats {
  /** Every request received, answered or not (the clients' own; the second tenant's are apart). */
  requests: number;
  /** 429 answers sent, for any reason. */
  rateLimited: number;
  /** Requests that arrived while the limit was exhausted: what a well-behaved client never sends. */
  receivedWhileExhausted: number;
  /** Requests that arrived before a Retry-After this upstream had announced to the key ran out. */
  receivedInsideRetryAfter: number;
  /** Input plus output tokens of the requests that were answered. */
  tokensServed: number;
  inputTokens: number;
  outputTokens: number;
  /** Arrival time (per the injected clock) of every request, in order. */
  arrivals: number[];
  /** What the second tenant on the same key (which bypasses the proxy) drew and was refused. */
  otherTenant: { requests: number; rateLimited: number; tokensServed: number };
}

export interface LedgerLimits {
  tokenLimit: number;
  requestLimit: number | undefined;
  windowMs: number;
  shape: LimitShape;
}

/** What one request needs from the upstream's limits when it arrives. */
export interface Need {
  tokens: number;
  requests: number;
}

const noNeed: Need = { tokens: 0, requests: 1 };

function emptyStats(): SimStats {
  return {
    requests: 0,
    rateLimited: 0,
    receivedWhileExhausted: 0,
    receivedInsideRetryAfter: 0,
    tokensServed: 0,
    inputTokens: 0,
    outputTokens: 0,
    arrivals: [],
    otherTenant: { requests: 0, rateLimited: 0, tokensServed: 0 },
  };
}

/** The simulated upstream's accounting: its limits (window or bucket) and the counters tests read. */
export class SimLedger {
  private readonly tokens: Allowance;
  private readonly requests: Allowance | null;
  private counters = emptyStats();
  /** Until when the last 429 asked the key's clients to wait. */
  private retryAfterUntil = 0;

  constructor(
    private readonly limits: LedgerLimits,
    startAt: number,
  ) {
    this.tokens = createAllowance(limits.shape, limits.tokenLimit, limits.windowMs, startAt);
    this.requests = limits.requestLimit === undefined ? null : createAllowance(limits.shape, limits.requestLimit, limits.windowMs, startAt);
  }

  get reservesOutput(): boolean {
    return this.limits.shape === 'token-bucket';
  }

  /** Counts an arrival; returns whether it is refused (the limit cannot take what it needs). */
  arrive(at: number, need: Need = noNeed): boolean {
    this.counters.requests++;
    this.counters.arrivals.push(at);
    if (at < this.retryAfterUntil) this.counters.receivedInsideRetryAfter++;
    if (this.isExhausted(at)) this.counters.receivedWhileExhausted++;
    return this.refuses(need, at);
  }

  private refuses(need: Need, at: number): boolean {
    return this.tokens.refuses(need.tokens, at) || (this.requests?.refuses(need.requests, at) ?? false);
  }

  /** An answered request: its input, plus (token bucket) its whole output reservation up front. */
  admit(at: number, inputTokens: number, reservedOutput = 0): void {
    this.requests?.charge(1, at);
    this.tokens.charge(inputTokens + (this.reservesOutput ? reservedOutput : 0), at);
    this.counters.inputTokens += inputTokens;
    this.counters.tokensServed += inputTokens;
  }

  generate(at: number, outputTokens: number): void {
    if (!this.reservesOutput) this.tokens.charge(outputTokens, at);
    this.counters.outputTokens += outputTokens;
    this.counters.tokensServed += outputTokens;
  }

  /** The part of an output reservation that was not generated goes back into the bucket. */
  release(at: number, unusedOutput: number): void {
    if (this.reservesOutput) this.tokens.refund(unusedOutput, at);
  }

  countRateLimited(at?: number, retryAfterMs?: number): void {
    this.counters.rateLimited++;
    if (at !== undefined && retryAfterMs !== undefined) this.retryAfterUntil = Math.max(this.retryAfterUntil, at + retryAfterMs);
  }

  /** The second tenant takes `tokens` for one request when they fit; otherwise it is refused. */
  drawForOtherTenant(at: number, tokens: number): boolean {
    const other = this.counters.otherTenant;
    other.requests++;
    if (this.refuses({ tokens, requests: 1 }, at)) {
      other.rateLimited++;
      return false;
    }
    this.requests?.charge(1, at);
    this.tokens.charge(tokens, at);
    other.tokensServed += tokens;
    return true;
  }

  isExhausted(at: number): boolean {
    return this.tokens.remaining(at) <= 0 || (this.requests !== null && this.requests.remaining(at) <= 0);
  }

  /** Milliseconds until a request needing `need` would be let in; 0 when it would be now. */
  msUntilRoom(at: number, need: Need = noNeed): number {
    return Math.max(this.tokens.msUntilRoom(need.tokens, at), this.requests?.msUntilRoom(need.requests, at) ?? 0);
  }

  /** Which limit refuses `need`: the request limit when it alone does. */
  refusedByRequests(at: number, need: Need = noNeed): boolean {
    return this.requests !== null && this.requests.refuses(need.requests, at) && !this.tokens.refuses(need.tokens, at);
  }

  usage(at: number): { tokens: number; requests: number } {
    return { tokens: this.tokens.used(at), requests: this.requests?.used(at) ?? 0 };
  }

  snapshot(at: number): LimitSnapshot {
    return {
      now: at,
      tokenLimit: this.limits.tokenLimit,
      tokensRemaining: this.tokens.remaining(at),
      tokensResetMs: this.tokens.resetMs(at),
      requestLimit: this.limits.requestLimit,
      requestsRemaining: this.requests?.remaining(at) ?? 0,
      requestsResetMs: this.requests?.resetMs(at) ?? 0,
      // Anthropic reports its bucket's tokens rounded to the nearest thousand.
      roundTokensTo: this.limits.shape === 'token-bucket' ? 1000 : 1,
    };
  }

  stats(): SimStats {
    return { ...this.counters, arrivals: [...this.counters.arrivals], otherTenant: { ...this.counters.otherTenant } };
  }

  resetStats(): void {
    this.counters = emptyStats();
  }
}
