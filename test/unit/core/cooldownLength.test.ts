import { describe, expect, it } from 'vitest';
import { decideAdmission } from '../../../src/core/admission.js';
import { unknownBlame } from '../../../src/core/controller.js';
import { announcedWaitMs, cooldownAfter429 } from '../../../src/core/cooldownLength.js';
import type { Report } from '../../../src/core/reported.js';
import { onUpstream429, type SettlingRequest } from '../../../src/core/settlement.js';
import type { LimiterState, TokenEstimate, WindowUsage } from '../../../src/core/types.js';
import { FakeClock, policyWith, stateWith } from '../../helpers/limiterFixtures.js';

const policy = policyWith();
const estimate: TokenEstimate = { inputTokens: 1_000, outputTokens: 1_000 };
const usage: WindowUsage = { tokens: 20_000, requests: 10 };
const request = (id: number, admittedAt: number, probe = false): SettlingRequest => ({ id, admittedAt, probe, estimate });

/** The breaker as the upstream's 429s leave it, on a fake clock: the probe goes the moment the cooldown ends. */
class Breaker {
  state: LimiterState = stateWith();
  private nextId = 1;
  constructor(readonly clock: FakeClock) {}

  /** A 429 on an ordinary request sent now; returns the cooldown it started. */
  refuse(announcedMs: number | null): number {
    const decision = onUpstream429(
      this.state,
      request(this.nextId++, this.clock.now),
      announcedMs,
      usage,
      unknownBlame,
      this.clock.now,
      policy,
      0,
    );
    this.state = decision.state;
    return decision.cooldownMs;
  }

  /** The clock runs to the cooldown's end; the probe goes (and is the only request that may) and is refused. */
  refuseProbe(announcedMs: number | null): number {
    expect(decideAdmission(this.state, [], estimate, (this.state.cooldownUntil as number) - 1, policy)).toMatchObject({
      kind: 'reject',
      reason: 'cooldown',
    });
    this.clock.now = this.state.cooldownUntil as number;
    expect(decideAdmission(this.state, [], estimate, this.clock.now, policy)).toMatchObject({ kind: 'admit', probe: true });
    const id = this.nextId++;
    this.state = { ...this.state, probeRequestId: id, probeStartedAt: this.clock.now };
    const decision = onUpstream429(
      this.state,
      request(id, this.clock.now, true),
      announcedMs,
      usage,
      unknownBlame,
      this.clock.now + 10,
      policy,
      0,
    );
    this.clock.advance(10);
    expect(decision.escalated).toBe(true);
    this.state = decision.state;
    return decision.cooldownMs;
  }
}

describe('a cooldown follows the upstream’s word', () => {
  it('announced: a 429 with retry-after 5 s cools exactly 5 s, not the ladder’s 30 s; the probe goes then', () => {
    const breaker = new Breaker(new FakeClock());
    const start = breaker.clock.now;
    expect(breaker.refuse(5_000)).toBe(5_000);
    expect(breaker.state.cooldownUntil).toBe(start + 5_000);
    expect(decideAdmission(breaker.state, [], estimate, start + 4_999, policy)).toMatchObject({
      kind: 'reject',
      reason: 'cooldown',
      retryAfterMs: 1,
    });
    expect(decideAdmission(breaker.state, [], estimate, start + 5_000, policy)).toMatchObject({ kind: 'admit', probe: true });
  });

  it('announced 0 ("retry now"): no cooldown to wait out, but still exactly one probe first', () => {
    const breaker = new Breaker(new FakeClock());
    expect(breaker.refuse(0)).toBe(0);
    expect(decideAdmission(breaker.state, [], estimate, breaker.clock.now, policy)).toMatchObject({ kind: 'admit', probe: true });
  });

  it('unannounced: a 429 that says nothing starts the ladder at --backoff-base (30 s)', () => {
    const breaker = new Breaker(new FakeClock());
    expect(breaker.refuse(null)).toBe(30_000);
    expect(breaker.refuseProbe(null)).toBe(60_000);
    expect(breaker.refuseProbe(null)).toBe(120_000);
    expect(breaker.refuseProbe(null)).toBe(240_000);
    expect(breaker.refuseProbe(null)).toBe(300_000);
    expect(breaker.refuseProbe(null)).toBe(300_000);
  });

  it('refused probe: each probe the upstream refuses again doubles the wait from what it announced, up to --backoff-max', () => {
    const breaker = new Breaker(new FakeClock());
    expect(breaker.refuse(5_000)).toBe(5_000);
    // The probe's 429 announces 5 s again: the announcement proved wrong once, so the wait doubles.
    expect([1, 2, 3, 4, 5, 6, 7].map(() => breaker.refuseProbe(5_000))).toEqual([
      10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000,
    ]);
    expect(breaker.state.consecutive429s).toBe(8);
  });

  it('refused probe after a "retry now": doubles from one second, not from nothing', () => {
    const breaker = new Breaker(new FakeClock());
    expect(breaker.refuse(0)).toBe(0);
    expect(breaker.refuseProbe(0)).toBe(1_000);
    expect(breaker.refuseProbe(null)).toBe(2_000);
  });

  it('a longer Retry-After always wins, at the first 429 and on a refused probe, even past --backoff-max', () => {
    const breaker = new Breaker(new FakeClock());
    expect(breaker.refuse(45_000)).toBe(45_000);
    expect(breaker.refuseProbe(200_000)).toBe(200_000);
    expect(breaker.refuseProbe(null)).toBe(300_000);
    expect(breaker.refuseProbe(900_000)).toBe(900_000);
    expect(breaker.refuseProbe(1_000)).toBe(300_000);
  });

  it('restart inside a cooldown: the next process reads the cooldown and its length from the durable state and doubles from it', () => {
    const clock = new FakeClock();
    const before = new Breaker(clock);
    before.refuse(8_000);
    // What the store holds is all a new process knows: the same rows, a new breaker.
    const stored: LimiterState = JSON.parse(JSON.stringify(before.state)) as LimiterState;
    clock.advance(3_000);
    const after = new Breaker(clock);
    after.state = stored;
    expect(decideAdmission(after.state, [], estimate, clock.now, policy)).toMatchObject({
      kind: 'reject',
      reason: 'cooldown',
      retryAfterMs: 5_000,
    });
    expect(after.refuseProbe(null)).toBe(16_000);
  });

  it('a success resets the streak: the next incident starts again from the upstream’s word', () => {
    expect(cooldownAfter429(stateWith({ consecutive429s: 0, cooldownStartedAt: 0, cooldownUntil: 300_000 }), 7_000, policy, 0)).toBe(7_000);
  });

  it('the seed’s setup (the demo’s amnesia run, --unsafe-no-cooldown) records its own fixed ladder whatever was announced', () => {
    const seed = policyWith({ unsafeNoCooldown: true, backoffBaseMs: 3_000, backoffMaxMs: 3_000 });
    expect(onUpstream429(stateWith(), request(1, 0), 150, usage, unknownBlame, 10, seed, 0).cooldownMs).toBe(3_000);
  });

  it('jitter lengthens the ladder’s own waits, never the upstream’s exact word', () => {
    const jittery = policyWith({ backoffJitter: 0.5 });
    expect(cooldownAfter429(stateWith(), 5_000, jittery, 0.9)).toBe(5_000);
    expect(cooldownAfter429(stateWith(), null, jittery, 0.5)).toBe(37_500);
    expect(cooldownAfter429(stateWith({ consecutive429s: 1, cooldownStartedAt: 0, cooldownUntil: 5_000 }), null, jittery, 0.5)).toBe(
      12_500,
    );
  });
});

describe('what a 429 announces', () => {
  const readAt = 1_700_000_000_000;
  const bucket = (overrides: Partial<Report>): Report => ({
    dimension: 'tokens',
    limit: 60_000,
    remaining: 0,
    resetAt: readAt + 60_000,
    roundingSlack: 0,
    refill: 'bucket',
    ...overrides,
  });

  it('is its retry-after-ms / retry-after when it sends one, whatever the reports say', () => {
    expect(announcedWaitMs(5_000, [bucket({})], estimate, readAt)).toBe(5_000);
  });

  it('is nothing when it sends neither a retry-after nor a report', () => {
    expect(announcedWaitMs(null, [], estimate, readAt)).toBeNull();
  });

  it('is the time until the refused request fits by the reported refill, without a retry-after', () => {
    // 60 000 missing, full in 60 s: 1 000 a second; 1 000 remaining, 2 000 needed: 1 s.
    expect(announcedWaitMs(null, [bucket({ limit: 61_000, remaining: 1_000 })], estimate, readAt)).toBe(1_000);
    // Anthropic's rounding slack may not be in the bucket: 500 more to wait for.
    expect(announcedWaitMs(null, [bucket({ limit: 61_000, remaining: 1_000, roundingSlack: 500 })], estimate, readAt)).toBe(1_500);
  });

  it('is the longest wait over the limits that could not hold the request; a limit with room says nothing', () => {
    const requests = bucket({ dimension: 'requests', limit: 50, remaining: 0, resetAt: readAt + 1_200 });
    const tokens = bucket({ remaining: 0 });
    expect(announcedWaitMs(null, [requests, tokens], estimate, readAt)).toBe(2_000);
    expect(announcedWaitMs(null, [bucket({ remaining: 50_000 })], estimate, readAt)).toBeNull();
  });

  it('is the time to the reset when the report gives no limit to time the refill by (OpenAI x-ratelimit-*, generic)', () => {
    expect(
      announcedWaitMs(null, [bucket({ limit: null, remaining: 100, resetAt: readAt + 6_500, refill: 'window' })], estimate, readAt),
    ).toBe(6_500);
  });
});
