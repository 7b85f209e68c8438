import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, policyWith } from '../../helpers/limiterFixtures.js';
import { admitted, OpenWardens } from '../../helpers/openWardens.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';

const scratch = new ScratchDirs();
const wardens = new OpenWardens();

afterEach(async () => {
  await wardens.closeAll();
  scratch.removeAll();
});

const request = { method: 'POST', path: '/v1/messages', estimate: { inputTokens: 100, outputTokens: 100 } };

describe('a cooldown that follows the upstream’s word survives a restart', () => {
  it('announced 8 s, a restart 3 s in: the next process refuses for the 5 s left, and the refused probe doubles to 16 s', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const policy = policyWith();
    const first = await wardens.open(dbPath, policy, clock);
    const victim = admitted(await first.admit(request));
    const incident = await first.upstream429(victim, { retryAfterMs: 8_000 });
    expect(incident).toMatchObject({ escalated: true, cooldownMs: 8_000, consecutive429s: 1 });
    await first.close();

    clock.advance(3_000);
    const second = await wardens.open(dbPath, policy, clock);
    expect(await second.admit(request)).toMatchObject({ kind: 'rejected', reason: 'cooldown', retryAfterMs: 5_000 });
    clock.now = incident?.cooldownUntil as number;
    const probe = await second.admit(request);
    expect(probe).toMatchObject({ kind: 'admitted', probe: true });
    expect(await second.upstream429(admitted(probe), { retryAfterMs: 8_000 })).toMatchObject({
      escalated: true,
      cooldownMs: 16_000,
      consecutive429s: 2,
    });
  });

  it('without a retry-after, the 429’s own reports time the cooldown (Anthropic: until the bucket holds the request)', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const warden = await wardens.open(dbPath, policyWith(), clock);
    const victim = admitted(await warden.admit(request));
    // 60 000 tokens a minute, 0 left (rounded to the thousand), full again in 60 s: 1 000 a second; 200 + 500 of rounding needed.
    const reports = [
      {
        dimension: 'tokens' as const,
        limit: 60_000,
        remaining: 0,
        resetAt: clock.now + 60_000,
        roundingSlack: 500,
        refill: 'bucket' as const,
      },
    ];
    expect(await warden.upstream429(victim, { retryAfterMs: null, reports, reportsReadAt: clock.now })).toMatchObject({
      escalated: true,
      cooldownMs: 700,
    });
  });
});
