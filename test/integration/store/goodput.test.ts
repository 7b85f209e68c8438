import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Report } from '../../../src/core/reported.js';
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

const request = (inputTokens: number, outputTokens: number, model: string | null = null) => ({
  method: 'POST',
  path: '/v1/messages',
  estimate: { inputTokens, outputTokens },
  model,
});

const policy = policyWith({ windowMs: 60_000, tokenBudget: 100_000 });

describe('what the upstream reports is left, durably', () => {
  it('admits against the last report less what was sent since, and a restart keeps both', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const warden = await wardens.open(dbPath, policy, clock);
    const id = admitted(await warden.admit(request(100, 100)));
    // A second tenant on the key: the upstream has only 3 000 of 30 000 left, full again in 54 s (500 a second).
    const report: Report = {
      dimension: 'tokens',
      limit: 30_000,
      remaining: 3_000,
      resetAt: clock.now + 54_000,
      roundingSlack: 0,
      refill: 'bucket',
    };
    await warden.settle(id, { outcome: 'ok', status: 200, usage: { inputTokens: 100, outputTokens: 100 }, reports: [report] });

    // 3 000 − 900 held back (3 % of 30 000) leaves 2 100.
    admitted(await warden.admit(request(900, 900)));
    expect(await warden.admit(request(200, 200))).toMatchObject({
      kind: 'rejected',
      reason: 'budget',
      message: expect.stringMatching(/upstream reports 3000 tokens left/),
    });

    await warden.close();
    const restarted = await wardens.open(dbPath, policy, clock);
    expect(await restarted.admit(request(200, 200))).toMatchObject({ kind: 'rejected', reason: 'budget' });
    // A second of refill (500 tokens) makes room again: 300 + 500 ≥ 400.
    clock.advance(1_000);
    admitted(await restarted.admit(request(200, 200)));
  });

  it("is ignored under the amnesia run's --unsafe-ignore-reported-remaining, as the seed ignored it", async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const warden = await wardens.open(dbPath, { ...policy, unsafeIgnoreReportedRemaining: true }, clock);
    const id = admitted(await warden.admit(request(100, 100)));
    const report: Report = {
      dimension: 'tokens',
      limit: 30_000,
      remaining: 3_000,
      resetAt: clock.now + 54_000,
      roundingSlack: 0,
      refill: 'bucket',
    };
    await warden.settle(id, { outcome: 'ok', status: 200, usage: { inputTokens: 100, outputTokens: 100 }, reports: [report] });
    // The same requests the report refuses above: only the local budget of 100 000 counts now.
    admitted(await warden.admit(request(900, 900)));
    admitted(await warden.admit(request(200, 200)));
  });

  it('counts what is in flight when a report is adopted, and the real usage at settle', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const warden = await wardens.open(dbPath, policy, clock);
    const inFlight = admitted(await warden.admit(request(1_000, 1_000)));
    const reporting = admitted(await warden.admit(request(10, 10)));
    const report: Report = {
      dimension: 'tokens',
      limit: 30_000,
      remaining: 5_000,
      resetAt: clock.now + 60_000,
      roundingSlack: 0,
      refill: 'bucket',
    };
    await warden.settle(reporting, { outcome: 'ok', status: 200, usage: { inputTokens: 10, outputTokens: 10 }, reports: [report] });
    const row = () =>
      sqlOf(warden).get("SELECT admitted_since FROM reported_remaining WHERE dimension = 'tokens'") as { admitted_since: number };
    expect(row().admitted_since).toBe(2_000);
    await warden.settle(inFlight, { outcome: 'ok', status: 200, usage: { inputTokens: 1_000, outputTokens: 200 } });
    expect(row().admitted_since).toBe(1_200);
  });
});

describe('the learned output reservation', () => {
  it('is learned per model from settled usage, and a restarted proxy still knows it', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const roomy = policyWith({ tokenBudget: 10_000_000 });
    const warden = await wardens.open(dbPath, roomy, clock);
    for (let index = 1; index <= 20; index++) {
      const id = admitted(await warden.admit(request(10, 128_000, 'claude-code-model')));
      await warden.settle(id, { outcome: 'ok', status: 200, usage: { inputTokens: 10, outputTokens: index * 10 } });
    }
    // An unread usage keeps the reservation but teaches nothing.
    const unread = admitted(await warden.admit(request(10, 128_000, 'claude-code-model')));
    await warden.settle(unread, { outcome: 'ok', status: 200, usage: null });
    expect(warden.learnedOutputs.of('claude-code-model')).toBeNull();
    clock.advance(1_000);
    await warden.tick();
    expect(warden.learnedOutputs.of('claude-code-model')).toBe(190);
    expect(warden.learnedOutputs.of('another-model')).toBeNull();

    await warden.close();
    expect((await wardens.open(dbPath, roomy, clock)).learnedOutputs.of('claude-code-model')).toBe(190);
  });
});
