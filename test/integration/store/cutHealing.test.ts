import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Report } from '../../../src/core/reported.js';
import type { LimiterPolicy } from '../../../src/core/types.js';
import type { ReportedLimitsForBudget } from '../../../src/warden/types.js';
import type { Warden } from '../../../src/warden/warden.js';
import { FakeClock, policyWith } from '../../helpers/limiterFixtures.js';
import { admitted, OpenWardens } from '../../helpers/openWardens.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';
import { sqlOf } from '../../helpers/sqliteWarden.js';

const scratch = new ScratchDirs();
const wardens = new OpenWardens();

afterEach(async () => {
  await wardens.closeAll();
  scratch.removeAll();
});

const small = { inputTokens: 20, outputTokens: 15 };
const request = { method: 'POST', path: '/v1/chat/completions', estimate: small };

/** What one header family says on a success, with lots of room left: the reports and the limits for the budgets. */
interface Family {
  name: string;
  policy: LimiterPolicy;
  reports(now: number): Report[];
  reported: ReportedLimitsForBudget;
  /** The budgets the scope is at before the 429, and goes back to. */
  knownGood: { tokens: number; requests: number | null };
}

const families: Family[] = [
  {
    // The case: OpenAI's x-ratelimit-* (a limit of 2 000 000 tokens a minute), whose reports do not replace the window budget.
    name: 'OpenAI x-ratelimit-*',
    policy: policyWith(),
    reports: (now) => [
      { dimension: 'tokens', limit: 2_000_000, remaining: 1_999_900, resetAt: now + 6, roundingSlack: 0, refill: 'window' },
      { dimension: 'requests', limit: 5_000, remaining: 4_999, resetAt: now + 12, roundingSlack: 0, refill: 'window' },
    ],
    reported: { tokenLimit: 2_000_000, requestLimit: 5_000 },
    knownGood: { tokens: 1_940_000, requests: 4_850 },
  },
  {
    name: 'Anthropic anthropic-ratelimit-*',
    policy: policyWith(),
    reports: (now) => [
      { dimension: 'tokens', limit: 400_000, remaining: 399_000, resetAt: now + 200, roundingSlack: 500, refill: 'bucket' },
      { dimension: 'input-tokens', limit: 320_000, remaining: 320_000, resetAt: now, roundingSlack: 500, refill: 'bucket' },
      { dimension: 'output-tokens', limit: 80_000, remaining: 79_000, resetAt: now + 800, roundingSlack: 500, refill: 'bucket' },
      { dimension: 'requests', limit: 4_000, remaining: 3_999, resetAt: now + 15, roundingSlack: 0, refill: 'bucket' },
    ],
    reported: { tokenLimit: 400_000, requestLimit: 4_000 },
    knownGood: { tokens: 388_000, requests: 3_880 },
  },
  {
    // A gateway that reports what is left and when it resets but no limit: the configured budget is known-good.
    name: 'a generic gateway (remaining and reset, no limit; --token-budget 10000)',
    policy: policyWith({ tokenBudget: 10_000 }),
    reports: (now) => [{ dimension: 'tokens', limit: null, remaining: 50_000, resetAt: now + 1_000, roundingSlack: 0, refill: 'window' }],
    reported: { tokenLimit: null, requestLimit: null },
    knownGood: { tokens: 10_000, requests: null },
  },
];

async function serve(warden: Warden, clock: FakeClock, family: Family): Promise<void> {
  const id = admitted(await warden.admit(request));
  clock.advance(50);
  await warden.settle(id, {
    outcome: 'ok',
    status: 200,
    usage: small,
    reported: family.reported,
    reports: family.reports(clock.now),
    reportsReadAt: clock.now,
  });
}

/** Two small requests served, then a 429 without rate-limit headers: a cut on both budgets from a window of 70 tokens. */
async function cutAt429(warden: Warden, clock: FakeClock, family: Family): Promise<number> {
  await serve(warden, clock, family);
  await serve(warden, clock, family);
  expect(await warden.views.readState()).toMatchObject({ tokenBudget: family.knownGood.tokens, requestBudget: family.knownGood.requests });
  const victim = admitted(await warden.admit(request));
  clock.advance(50);
  const incident = await warden.upstream429(victim, { retryAfterMs: null });
  expect(incident?.adjustments.find((adjustment) => adjustment.kind === 'tokens')).toMatchObject({ reason: 'cut', to: 49 });
  return incident?.cooldownUntil as number;
}

function recoveries(warden: Warden): { kind: string; from: number; to: number; detail: string }[] {
  return sqlOf(warden).all(
    'SELECT kind, from_value AS "from", to_value AS "to", detail FROM budget_adjustments WHERE reason = \'recover\' ORDER BY id',
  );
}

describe('a cut heals at the upstream’s word', () => {
  for (const family of families) {
    it(`${family.name}: after the successful probe, a fresh report with room brings the cut budgets straight back to known-good`, async () => {
      const clock = new FakeClock();
      const warden = await wardens.open(join(scratch.make(), 'ratewarden.db'), family.policy, clock);
      const cooldownUntil = await cutAt429(warden, clock, family);
      expect((await warden.views.readState()).tokenBudget).toBe(49);

      // The probe goes as soon as the cut lets it (the window must first lose the 70 tokens it holds).
      clock.now = cooldownUntil;
      let probe = await warden.admit(request);
      while (probe.kind === 'rejected') {
        expect(probe.reason).toBe('budget');
        clock.advance(probe.retryAfterMs);
        probe = await warden.admit(request);
      }
      expect(probe).toMatchObject({ kind: 'admitted', probe: true });
      expect(clock.now - cooldownUntil).toBeLessThanOrEqual(family.policy.windowMs);
      clock.advance(50);
      await warden.settle(admitted(probe), {
        outcome: 'ok',
        status: 200,
        usage: small,
        reported: family.reported,
        reports: family.reports(clock.now),
        reportsReadAt: clock.now,
      });

      // At the probe's own settle, not a window or twelve minutes later.
      expect(await warden.views.readState()).toMatchObject({
        cooldownUntil: null,
        tokenBudget: family.knownGood.tokens,
        requestBudget: family.knownGood.requests,
      });
      expect(recoveries(warden).map((row) => [row.kind, row.from, row.to])).toEqual([
        ['tokens', 49, family.knownGood.tokens],
        ...(family.knownGood.requests === null ? [] : [['requests', 2, family.knownGood.requests]]),
      ]);
      expect(recoveries(warden)[0]?.detail).toMatch(/cut healed/);
      expect(warden.budgetEvents.take().map((event) => [event.adjustment.reason, event.adjustment.kind])).toEqual(
        expect.arrayContaining([
          ['cut', 'tokens'],
          ['recover', 'tokens'],
        ]),
      );
      // Traffic flows at once: the next requests are not held to 49 tokens.
      for (let i = 0; i < 5; i++) expect(await warden.admit(request)).toMatchObject({ kind: 'admitted', probe: false });
    });
  }

  it('a report older than the 429 does not heal the cut, nor one seen while the cooldown is in force', async () => {
    const family = families[0] as Family;
    const clock = new FakeClock();
    const warden = await wardens.open(join(scratch.make(), 'ratewarden.db'), family.policy, clock);
    await cutAt429(warden, clock, family);
    for (let i = 0; i < 10; i++) {
      await warden.tick();
      clock.advance(1_000);
    }
    expect((await warden.views.readState()).tokenBudget).toBe(49);
    expect(recoveries(warden)).toEqual([]);
  });

  it('without a fresh report, the controller still recovers within three windows of the successful probe', async () => {
    const family = families[0] as Family;
    const clock = new FakeClock();
    const warden = await wardens.open(join(scratch.make(), 'ratewarden.db'), family.policy, clock);
    const cooldownUntil = await cutAt429(warden, clock, family);
    clock.now = cooldownUntil + family.policy.windowMs;
    const probe = admitted(await warden.admit(request));
    const probedAt = clock.now;
    await warden.settle(probe, { outcome: 'ok', status: 200, usage: small });
    expect((await warden.views.readState()).tokenBudget).toBe(49);
    while (clock.now - probedAt < 3 * family.policy.windowMs) {
      const next = await warden.admit(request);
      if (next.kind === 'admitted') await warden.settle(next.requestId, { outcome: 'ok', status: 200, usage: small });
      await warden.tick();
      clock.advance(1_000);
    }
    expect((await warden.views.readState()).tokenBudget).toBe(family.knownGood.tokens);
  });

  it('reset-cooldown clears the cuts on every dimension of the scope, and says what it cleared', async () => {
    const family = families[0] as Family;
    const clock = new FakeClock();
    const warden = await wardens.open(join(scratch.make(), 'ratewarden.db'), family.policy, clock);
    await cutAt429(warden, clock, family);
    const reset = await warden.resetCooldown('test', 'cut never healed', 'default');
    expect(reset.anything).toBe(true);
    expect(reset.scopes[0]?.cutsCleared.map((cut) => [cut.kind, cut.from, cut.to])).toEqual([
      ['tokens', 49, 1_940_000],
      ['requests', 2, 4_850],
    ]);
    expect(await warden.views.readState()).toMatchObject({ cooldownUntil: null, tokenBudget: 1_940_000, requestBudget: 4_850 });
    expect(recoveries(warden).map((row) => row.detail)).toEqual([
      expect.stringMatching(/reset-cooldown/),
      expect.stringMatching(/reset-cooldown/),
    ]);
  });
});
