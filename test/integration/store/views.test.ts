import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
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

const request = { method: 'POST', path: '/v1/messages', estimate: { inputTokens: 100, outputTokens: 100 } };

describe("the warden's views", () => {
  it("give a cooldown's refusal with the budgets its headers show from the same read, and count nothing", async () => {
    const clock = new FakeClock();
    const warden = await wardens.open(join(scratch.make(), 'ratewarden.db'), policyWith({ tokenBudget: 1_000, requestBudget: 20 }), clock);
    expect(await warden.views.cooldownRefusal()).toBeNull();
    const victim = admitted(await warden.admit(request));
    await warden.upstream429(victim, { retryAfterMs: 5_000 });
    const state = await warden.views.readState();
    expect(await warden.views.cooldownRefusal()).toMatchObject({
      kind: 'rejected',
      reason: 'cooldown',
      retryAfterMs: 5_000,
      shown: { tokenBudget: state.tokenBudget, requestBudget: state.requestBudget, usage: null },
    });
    expect(await warden.views.refusalView('default', true)).toEqual({
      tokenBudget: state.tokenBudget,
      requestBudget: state.requestBudget,
      usage: await warden.views.currentUsage(),
    });
    await warden.tick();
    expect(sqlOf(warden).get('SELECT refused_budget_total AS budget, refused_cooldown_total AS cooldown FROM limiter_state')).toEqual({
      budget: 0,
      cooldown: 0,
    });
  });
});
