import { describe, expect, it } from 'vitest';
import { cooldownIntervals, measureIncident, type LifeRecords, type RunRecord } from '../../../src/sim/incidentMeasures.js';
import { emptyLoadCounts, type AttemptRecord } from '../../../src/sim/loadGenerator.js';

const t0 = 1_000_000;

function attempt(overrides: Partial<AttemptRecord>): AttemptRecord {
  return {
    client: 0,
    retry: 0,
    sentAt: t0,
    answeredAt: t0 + 5,
    kind: 'ok',
    status: 200,
    reason: null,
    tokens: 0,
    completedAt: null,
    ...overrides,
  };
}

function life(overrides: Partial<LifeRecords> = {}): LifeRecords {
  return { startedEmptyAt: t0, admissions: [], cooldowns: [], budgetChanges: [], zeroTokenSamples: 0, ...overrides };
}

function run(overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    setup: 'ratewarden',
    startedAt: t0,
    endedAt: t0 + 60_000,
    windowMs: 6_000,
    tokenLimit: 24_000,
    calibratedBudget: 21_600,
    attempts: [],
    load: emptyLoadCounts(),
    upstream: {
      requests: 0,
      rateLimited: 0,
      receivedWhileExhausted: 0,
      receivedInsideRetryAfter: 0,
      otherTenantTokens: 0,
      otherTenant429s: 0,
    },
    lives: [life()],
    crashes: [],
    crashesAfter429s: [],
    storms: [],
    workersStarted: 1,
    endedBy: null,
    ...overrides,
  };
}

describe('cooldown intervals', () => {
  it('merges a 429 of the same incident into the cooldown it extends', () => {
    expect(
      cooldownIntervals([
        { at: 100, until: 3_100 },
        { at: 200, until: 3_500 },
        { at: 9_000, until: 15_000 },
      ]),
    ).toEqual([
      { start: 100, end: 3_500 },
      { start: 9_000, end: 15_000 },
    ]);
  });
});

describe('measureIncident', () => {
  it('counts admissions inside a cooldown, also one an earlier life started', () => {
    const figures = measureIncident(
      run({
        lives: [
          life({ cooldowns: [{ at: t0 + 1_000, until: t0 + 4_000 }], admissions: [t0 + 500, t0 + 4_000] }),
          life({ startedEmptyAt: t0 + 2_000, admissions: [t0 + 2_500, t0 + 3_000, t0 + 5_000] }),
        ],
        workersStarted: 2,
      }),
    );
    expect(figures.forwardedDuringCooldown).toBe(2);
    expect(figures.restarts).toBe(1);
    expect(figures.budgetResets).toBe(1);
  });

  it('counts what clients saw forwarded inside a cooldown only when sent after it began and answered before its end', () => {
    const cooldowns = [{ at: t0 + 1_000, until: t0 + 4_000 }];
    const figures = measureIncident(
      run({
        lives: [life({ cooldowns })],
        attempts: [
          attempt({ sentAt: t0 + 990, answeredAt: t0 + 1_010, kind: 'upstream-429' }),
          attempt({ sentAt: t0 + 2_000, answeredAt: t0 + 2_005, kind: 'local-429', reason: 'cooldown' }),
          attempt({ sentAt: t0 + 2_000, answeredAt: t0 + 2_010, kind: 'upstream-429' }),
          attempt({ sentAt: t0 + 3_990, answeredAt: t0 + 4_010, kind: 'ok' }),
        ],
      }),
    );
    expect(figures.forwardedDuringCooldownSeenByClients).toBe(1);
  });

  it('says a cooldown survived a crash only when nothing was forwarded from the crash to its end', () => {
    const cooldowns = [
      { at: t0 + 1_000, until: t0 + 5_000 },
      { at: t0 + 10_000, until: t0 + 14_000 },
    ];
    const figures = measureIncident(
      run({
        lives: [life({ cooldowns, admissions: [t0 + 12_000] })],
        crashes: [
          { at: t0 + 2_000, pid: 11 },
          { at: t0 + 7_000, pid: 12 },
          { at: t0 + 11_000, pid: 13 },
          { at: t0 + 12_500, pid: null },
        ],
      }),
    );
    expect(figures.crashes).toBe(3);
    expect(figures.crashesDuringCooldown).toBe(2);
    expect(figures.cooldownsSurvivingCrash).toBe(1);
  });

  it('measures goodput against a full bucket plus its refill over the run', () => {
    const figures = measureIncident(
      run({
        attempts: [
          attempt({ tokens: 24_000, completedAt: t0 + 3_000 }),
          attempt({ tokens: 120_000, completedAt: t0 + 30_000 }),
          attempt({ tokens: 999, completedAt: t0 + 61_000 }),
        ],
      }),
    );
    expect(figures.capacityTokens).toBe(24_000 + 240_000);
    expect(figures.goodput).toBeCloseTo(144_000 / 264_000);
  });

  it('leaves out of the capacity what the second tenant drew (its storms included)', () => {
    const figures = measureIncident(
      run({
        upstream: {
          requests: 0,
          rateLimited: 0,
          receivedWhileExhausted: 0,
          receivedInsideRetryAfter: 0,
          otherTenantTokens: 132_000,
          otherTenant429s: 0,
        },
        attempts: [attempt({ tokens: 66_000, completedAt: t0 + 40_000 })],
      }),
    );
    expect(figures.capacityTokens).toBe(132_000);
    expect(figures.otherTenantTokens).toBe(132_000);
    expect(figures.goodput).toBeCloseTo(0.5);
  });

  it('counts the crashes of the 429 edge with the scheduled ones for the cooldowns, and as the restarts they caused', () => {
    const figures = measureIncident(
      run({
        lives: [life({ cooldowns: [{ at: t0 + 1_000, until: t0 + 5_000 }] })],
        crashes: [{ at: t0 + 7_000, pid: 12 }],
        crashesAfter429s: [{ at: t0 + 1_001, pid: 11 }],
        workersStarted: 3,
      }),
    );
    expect(figures).toMatchObject({
      crashes: 1,
      crashesAfter429s: 1,
      crashesDuringCooldown: 1,
      cooldownsSurvivingCrash: 1,
      restarts: 2,
      restartsAfter429s: 1,
    });
  });

  it('has no cooldown figures for the direct run, which has no proxy', () => {
    const figures = measureIncident(run({ setup: 'direct', lives: [], workersStarted: 0 }));
    expect(figures).toMatchObject({ forwardedDuringCooldown: null, forwardedDuringCooldownSeenByClients: null, restarts: 0 });
  });

  it('draws the budget trajectory with the resets of lives that started empty', () => {
    const figures = measureIncident(
      run({
        lives: [
          life({
            budgetChanges: [
              { at: t0 + 500, to: 21_600, reason: 'reported-limit' },
              { at: t0 + 3_000, to: 15_120, reason: 'cut' },
            ],
          }),
          life({ startedEmptyAt: t0 + 8_000, budgetChanges: [{ at: t0 + 8_400, to: 21_600, reason: 'reported-limit' }] }),
        ],
      }),
    );
    expect(figures.budget).toEqual([
      { at: 0, tokens: null },
      { at: 500, tokens: 21_600 },
      { at: 3_000, tokens: 15_120 },
      { at: 8_000, tokens: null },
      { at: 8_400, tokens: 21_600 },
    ]);
    expect(figures.budgetCuts).toBe(1);
    expect(figures.budgetResets).toBe(1);
  });
});
