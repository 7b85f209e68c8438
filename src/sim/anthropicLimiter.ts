import { TokenBucket } from './tokenBucket.js';

/**
 * Anthropic's rate limits as its documentation describes them (docs.anthropic.com, "Rate
 * limits"): per organization and per model class, three token buckets, requests (RPM), input
 * tokens (ITPM) and output tokens (OTPM), each refilled continuously up to its limit per minute.
 * - RPM: one per request.
 * - ITPM: `input_tokens + cache_creation_input_tokens`; `cache_read_input_tokens` are not
 *   counted for current models ("in some instances" they are: `cacheReadsCountTowardItpm`).
 * - OTPM: estimated from `max_tokens` when the request starts, adjusted to the real output at
 *   its end.
 * A request is refused (429) when any bucket lacks what it needs. Pure: time is passed in.
 */
export interface ClassLimits {
  requestsPerMinute: number;
  inputTokensPerMinute: number;
  outputTokensPerMinute: number;
}

/**
 * Undocumented: what happens to a request whose `max_tokens` exceeds the whole OTPM bucket.
 * `admit-when-full` (default): it goes when the bucket is full and takes all of it (the
 * pre-charge is capped at the bucket's size), so it can never be refused forever.
 * `refuse`: it is always refused with a 429, as a request that can never fit.
 */
export type OversizedOutputRule = 'admit-when-full' | 'refuse';

export interface LimiterRules {
  /** The limits' period: 60 s, divided by the time scale. */
  windowMs: number;
  cacheReadsCountTowardItpm: boolean;
  oversizedOutput: OversizedOutputRule;
}

export type LimitName = 'requests' | 'input-tokens' | 'output-tokens';

export interface Charge {
  /** What ITPM counts: `input_tokens + cache_creation_input_tokens` (+ cache reads when the switch says so). */
  inputTokens: number;
  maxTokens: number;
}

export interface Admission {
  admitted: true;
  /** The output pre-charged now, corrected at `finish`. */
  outputCharged: number;
}

export interface Refusal {
  admitted: false;
  /** The limits that lacked room; the first is the one that needs the longest wait. */
  limitedBy: LimitName[];
  retryAfterMs: number;
}

export interface BucketReport {
  limit: number;
  remaining: number;
  /** Until the bucket is full again. */
  resetMs: number;
}

export type LimitReport = Record<LimitName, BucketReport>;

class ClassBuckets {
  readonly buckets: Record<LimitName, TokenBucket>;

  constructor(limits: ClassLimits, windowMs: number, startAt: number) {
    this.buckets = {
      requests: new TokenBucket(limits.requestsPerMinute, windowMs, startAt),
      'input-tokens': new TokenBucket(limits.inputTokensPerMinute, windowMs, startAt),
      'output-tokens': new TokenBucket(limits.outputTokensPerMinute, windowMs, startAt),
    };
  }
}

export class AnthropicLimiter {
  private readonly groups = new Map<string, ClassBuckets>();

  constructor(
    private readonly limitsOf: (modelClass: string) => ClassLimits,
    private readonly rules: LimiterRules,
    private readonly startAt: number,
  ) {}

  private group(organization: string, modelClass: string): ClassBuckets {
    const key = `${organization}\u0000${modelClass}`;
    let group = this.groups.get(key);
    if (group === undefined) {
      group = new ClassBuckets(this.limitsOf(modelClass), this.rules.windowMs, this.startAt);
      this.groups.set(key, group);
    }
    return group;
  }

  /** Checks every bucket; takes from all of them only when all have room. */
  admit(organization: string, modelClass: string, charge: Charge, now: number): Admission | Refusal {
    const { buckets } = this.group(organization, modelClass);
    const output = buckets['output-tokens'];
    if (this.rules.oversizedOutput === 'refuse' && charge.maxTokens > output.capacity) {
      return { admitted: false, limitedBy: ['output-tokens'], retryAfterMs: this.rules.windowMs };
    }
    const needs: Record<LimitName, number> = { requests: 1, 'input-tokens': charge.inputTokens, 'output-tokens': charge.maxTokens };
    const lacking = (Object.keys(needs) as LimitName[])
      .filter((name) => !buckets[name].fits(needs[name], now))
      .map((name) => ({ name, waitMs: buckets[name].msUntilFits(needs[name], now) }))
      .sort((a, b) => b.waitMs - a.waitMs);
    if (lacking.length > 0)
      return { admitted: false, limitedBy: lacking.map((entry) => entry.name), retryAfterMs: lacking[0]?.waitMs ?? 0 };
    // A need above a whole bucket empties it; the buckets never go below empty (no debt).
    const outputCharged = Math.min(charge.maxTokens, output.capacity);
    buckets.requests.take(1, now);
    buckets['input-tokens'].take(Math.min(charge.inputTokens, buckets['input-tokens'].capacity), now);
    output.take(outputCharged, now);
    return { admitted: true, outputCharged };
  }

  /** The end of a request: the output pre-charge becomes what was really generated. */
  finish(organization: string, modelClass: string, outputCharged: number, outputTokens: number, now: number): void {
    const output = this.group(organization, modelClass).buckets['output-tokens'];
    if (outputTokens < outputCharged) output.giveBack(outputCharged - outputTokens, now);
    else if (outputTokens > outputCharged) output.take(Math.min(outputTokens - outputCharged, output.available(now)), now);
  }

  report(organization: string, modelClass: string, now: number): LimitReport {
    const { buckets } = this.group(organization, modelClass);
    const of = (bucket: TokenBucket): BucketReport => ({
      limit: bucket.capacity,
      remaining: Math.floor(bucket.available(now)),
      resetMs: bucket.msUntilFull(now),
    });
    return { requests: of(buckets.requests), 'input-tokens': of(buckets['input-tokens']), 'output-tokens': of(buckets['output-tokens']) };
  }

  /** ITPM's charge for a request's input, by the documented rule and the switch. */
  inputCharge(usage: { inputTokens: number; cacheCreationInputTokens: number; cacheReadInputTokens: number }): number {
    return usage.inputTokens + usage.cacheCreationInputTokens + (this.rules.cacheReadsCountTowardItpm ? usage.cacheReadInputTokens : 0);
  }
}
