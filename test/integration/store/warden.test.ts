import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Warden } from '../../../src/warden/warden.js';
import { FakeClock, policyWith } from '../../helpers/limiterFixtures.js';
import { admitted, OpenWardens } from '../../helpers/openWardens.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';
import { sqlOf, writeRows } from '../../helpers/sqliteWarden.js';

const scratch = new ScratchDirs();
const wardens = new OpenWardens();

afterEach(async () => {
  await wardens.closeAll();
  scratch.removeAll();
});

const request = (inputTokens: number, outputTokens: number) => ({
  method: 'POST',
  path: '/v1/messages',
  estimate: { inputTokens, outputTokens },
});

function count(warden: Warden, sql: string): number {
  return (sqlOf(warden).get(sql) as { n: number }).n;
}

describe('amnesia regression: a restart forgets nothing', () => {
  it('a new warden on the same file keeps rejecting for the remaining cooldown, and ticks do not raise the budget', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const policy = policyWith({ tokenBudget: 1_000, tokenBudgetMax: 5_000 });
    const first = await wardens.open(dbPath, policy, clock);

    // Fill the window: nine requests settle, the tenth meets the upstream's 429.
    for (let i = 0; i < 9; i++) {
      const id = admitted(await first.admit(request(50, 50)));
      clock.advance(100);
      await first.settle(id, { outcome: 'ok', status: 200, usage: { inputTokens: 50, outputTokens: 50 } });
    }
    const last = admitted(await first.admit(request(50, 50)));
    expect(await first.admit(request(1, 1))).toMatchObject({ kind: 'rejected', reason: 'budget' });
    clock.advance(100);
    const incident = await first.upstream429(last, { retryAfterMs: null });
    expect(incident).toMatchObject({ escalated: true, cooldownMs: 30_000, consecutive429s: 1 });
    const cutBudget = (await first.views.readState()).tokenBudget;
    expect(cutBudget).toBe(630);
    const cooldownUntil = incident?.cooldownUntil as number;
    await first.close();

    clock.advance(10_000);
    const second = await wardens.open(dbPath, policy, clock);
    const refused = await second.admit(request(50, 50));
    expect(refused).toMatchObject({ kind: 'rejected', reason: 'cooldown', retryAfterMs: cooldownUntil - clock.now });
    expect(refused.kind === 'rejected' && refused.retryAfterMs).toBe(20_000);
    expect(await second.views.readState()).toMatchObject({ consecutive429s: 1, backoffLevel: 1, cooldownUntil, tokenBudget: cutBudget });
    expect(await second.views.currentUsage()).toEqual({ tokens: 900, requests: 10 });

    for (let tick = 0; tick < 20 * 60; tick++) {
      await second.tick();
      clock.advance(1_000);
    }
    expect((await second.views.readState()).tokenBudget).toBe(cutBudget);
    expect(count(second, "SELECT COUNT(*) AS n FROM budget_adjustments WHERE reason = 'raise'")).toBe(0);
  });

  it('the half-open probe survives a restart: the next warden still lets only that one through', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const policy = policyWith({ tokenBudget: 1_000 });
    const first = await wardens.open(dbPath, policy, clock);
    const victim = admitted(await first.admit(request(100, 100)));
    const until = (await first.upstream429(victim, { retryAfterMs: 5_000 }))?.cooldownUntil as number;
    clock.now = until;
    const probe = await first.admit(request(10, 10));
    expect(probe).toMatchObject({ kind: 'admitted', probe: true });
    await first.close();

    const second = await wardens.open(dbPath, policy, clock);
    // Reason probe (issue 19: the queue waits it out), no longer cooldown; still nothing else goes.
    expect(await second.admit(request(10, 10))).toMatchObject({ kind: 'rejected', reason: 'probe' });
    await second.settle(admitted(probe), { outcome: 'ok', status: 200, usage: { inputTokens: 10, outputTokens: 10 } });
    expect(await second.views.readState()).toMatchObject({ cooldownUntil: null, consecutive429s: 0 });
    expect(await second.admit(request(10, 10))).toMatchObject({ kind: 'admitted', probe: false });
  });

  it('restores the whole state and the window exactly', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const policy = policyWith({ tokenBudget: 10_000, requestBudget: 100 });
    const first = await wardens.open(dbPath, policy, clock);
    const inFlight = admitted(await first.admit(request(300, 700)));
    const done = admitted(await first.admit(request(10, 10)));
    await first.settle(done, { outcome: 'ok', status: 200, usage: { inputTokens: 12, outputTokens: 30 } });
    await first.tick();
    const state = await first.views.readState();
    const usage = await first.views.currentUsage();
    await first.close();

    const second = await wardens.open(dbPath, policy, clock);
    expect(await second.views.readState()).toEqual(state);
    expect(await second.views.currentUsage()).toEqual(usage);
    expect(usage).toEqual({ tokens: 1_042, requests: 2 });
    await second.settle(inFlight, { outcome: 'ok', status: 200, usage: { inputTokens: 300, outputTokens: 100 } });
    expect(await second.views.currentUsage()).toEqual({ tokens: 442, requests: 2 });
  });
});

describe('the seed bug through the warden', () => {
  it('a fresh database that served one request with no 429 does not raise the budget over hours of ticks', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const policy = policyWith({ tokenBudget: 1_000, tokenBudgetMax: 10_000, requestBudget: 20, requestBudgetMax: 200 });
    const warden = await wardens.open(dbPath, policy, clock);
    const id = admitted(await warden.admit(request(200, 300)));
    clock.advance(2_000);
    await warden.settle(id, { outcome: 'ok', status: 200, usage: { inputTokens: 200, outputTokens: 300 } });
    for (let tick = 0; tick < 3 * 360; tick++) {
      await warden.tick();
      clock.advance(10_000);
    }
    expect(await warden.views.readState()).toMatchObject({ tokenBudget: 1_000, requestBudget: 20 });
    expect(count(warden, "SELECT COUNT(*) AS n FROM budget_adjustments WHERE reason <> 'config'")).toBe(0);
  });
});

describe('the controller through the warden', () => {
  it('raises one step per window once every gate is open, and records the gates with each change', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const policy = policyWith({ windowMs: 1_000, tokenBudget: 1_000, tokenBudgetMax: 2_000, minHistoryMs: 5_000, quietPeriodMs: 2_000 });
    const warden = await wardens.open(dbPath, policy, clock);
    const start = clock.now;
    for (let step = 0; step < 80; step++) {
      const id = admitted(await warden.admit(request(5, 5)));
      await warden.settle(id, { outcome: 'ok', status: 200, usage: { inputTokens: 5, outputTokens: 5 } });
      await warden.tick();
      clock.advance(100);
    }
    const raises = sqlOf(warden).all(
      "SELECT at, from_value, to_value, gates FROM budget_adjustments WHERE reason = 'raise' ORDER BY id",
    ) as { at: number; from_value: number; to_value: number; gates: string }[];
    expect(raises.length).toBeGreaterThanOrEqual(2);
    expect(raises[0]?.at).toBe(start + 5_000);
    expect(raises[0]).toMatchObject({ from_value: 1_000, to_value: 1_050 });
    for (let i = 1; i < raises.length; i++) expect((raises[i]?.at as number) - (raises[i - 1]?.at as number)).toBeGreaterThanOrEqual(1_000);
    const gates = JSON.parse(raises[0]?.gates as string) as Record<string, { open: boolean; why: string }>;
    expect(Object.keys(gates).sort()).toEqual(['consumption', 'headroom', 'history', 'pace', 'quiet']);
    expect(Object.values(gates).every((gate) => gate.open)).toBe(true);
    expect((await warden.views.readState()).tokenBudget).toBe(raises.at(-1)?.to_value);
  });

  it('cuts at a 429 from the usage, records the event, the sample and the cut', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const warden = await wardens.open(dbPath, policyWith({ tokenBudget: 10_000 }), clock);
    const ok = admitted(await warden.admit(request(1_000, 1_000)));
    await warden.settle(ok, { outcome: 'ok', status: 200, usage: { inputTokens: 1_000, outputTokens: 1_000 } });
    const victim = admitted(await warden.admit(request(500, 500)));
    const result = await warden.upstream429(victim, { retryAfterMs: 45_000 });
    expect(result).toMatchObject({ escalated: true, cooldownMs: 45_000, consecutive429s: 1 });
    expect((await warden.views.readState()).tokenBudget).toBe(1_400);
    expect(
      sqlOf(warden).all('SELECT request_id, retry_after_ms, escalated, window_tokens, window_requests FROM rate_limit_events'),
    ).toEqual([{ request_id: victim, retry_after_ms: 45_000, escalated: 1, window_tokens: 2_000, window_requests: 2 }]);
    expect(sqlOf(warden).all('SELECT kind, tokens, requests, retry_after_ms FROM calibration_samples')).toEqual([
      { kind: 'upstream-429', tokens: 2_000, requests: 2, retry_after_ms: 45_000 },
    ]);
    expect(
      count(warden, "SELECT COUNT(*) AS n FROM budget_adjustments WHERE reason = 'cut' AND from_value = 10000 AND to_value = 1400"),
    ).toBe(1);
  });

  it('a 429 with an empty window starts a cooldown but neither cuts nor records a sample', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const warden = await wardens.open(dbPath, policyWith({ tokenBudget: 10_000 }), clock);
    const victim = admitted(await warden.admit(request(0, 0)));
    expect(await warden.upstream429(victim, { retryAfterMs: null })).toMatchObject({ escalated: true, cooldownMs: 30_000 });
    expect((await warden.views.readState()).tokenBudget).toBe(10_000);
    expect(count(warden, 'SELECT COUNT(*) AS n FROM calibration_samples')).toBe(0);
  });
});

describe('settlement and housekeeping', () => {
  it('replaces the reservation by the real usage: input where it was admitted, output where it settled', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const warden = await wardens.open(dbPath, policyWith(), clock);
    const sameBucket = admitted(await warden.admit(request(100, 400)));
    const laterBucket = admitted(await warden.admit(request(100, 400)));
    expect(await warden.views.currentUsage()).toEqual({ tokens: 1_000, requests: 2 });
    await warden.settle(sameBucket, { outcome: 'ok', status: 200, usage: { inputTokens: 90, outputTokens: 10 } });
    expect(await warden.views.currentUsage()).toEqual({ tokens: 600, requests: 2 });
    clock.advance(5_000);
    await warden.settle(laterBucket, { outcome: 'ok', status: 200, usage: { inputTokens: 120, outputTokens: 30 } });
    expect(await warden.views.currentUsage()).toEqual({ tokens: 250, requests: 2 });
    expect(sqlOf(warden).all('SELECT input_tokens, output_tokens FROM usage_buckets ORDER BY start')).toEqual([
      { input_tokens: 210, output_tokens: 10 },
      { input_tokens: 0, output_tokens: 30 },
    ]);
  });

  it('settling twice, or settling an unknown request, changes nothing', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const warden = await wardens.open(dbPath, policyWith(), clock);
    const id = admitted(await warden.admit(request(100, 100)));
    await warden.settle(id, { outcome: 'ok', status: 200, usage: { inputTokens: 10, outputTokens: 10 } });
    const usage = await warden.views.currentUsage();
    await warden.settle(id, { outcome: 'ok', status: 200, usage: { inputTokens: 999, outputTokens: 999 } });
    await warden.settle(id + 100, { outcome: 'ok', status: 200, usage: { inputTokens: 999, outputTokens: 999 } });
    expect(await warden.upstream429(id, { retryAfterMs: null })).toBeNull();
    expect(await warden.views.currentUsage()).toEqual(usage);
    expect((await warden.views.readState()).cooldownUntil).toBeNull();
  });

  it('never records a zero-token window sample, and prune-zero removes those an old database holds', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const warden = await wardens.open(dbPath, policyWith(), clock);
    expect((await warden.tick()).windowSampleRecorded).toBe(false);
    const id = admitted(await warden.admit(request(0, 0)));
    await warden.settle(id, { outcome: 'ok', status: 200, usage: { inputTokens: 0, outputTokens: 0 } });
    clock.advance(60_000);
    expect((await warden.tick()).windowSampleRecorded).toBe(false);
    expect(count(warden, 'SELECT COUNT(*) AS n FROM calibration_samples')).toBe(0);

    writeRows(warden, "INSERT INTO calibration_samples (at, kind, tokens, requests, window_ms) VALUES (?, 'window', ?, 1, 60000)", [
      [1, 0],
      [2, 0],
      [3, 500],
    ]);
    expect(await warden.views.pruneZeroSamples('test', { dryRun: true })).toBe(2);
    expect(count(warden, 'SELECT COUNT(*) AS n FROM calibration_samples')).toBe(3);
    expect(await warden.views.pruneZeroSamples('test', { dryRun: false })).toBe(2);
    expect(sqlOf(warden).all('SELECT tokens FROM calibration_samples')).toEqual([{ tokens: 500 }]);
    expect(count(warden, "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'prune-zero-samples'")).toBe(1);
  });

  it('reset-cooldown closes the breaker for every later warden and leaves an audit row', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const first = await wardens.open(dbPath, policyWith(), clock);
    await first.upstream429(admitted(await first.admit(request(10, 10))), { retryAfterMs: null });
    const cleared = await first.resetCooldown('operator', 'upstream confirmed healthy');
    expect(cleared).toMatchObject({
      anything: true,
      scopes: [{ scope: 'default', anything: true, consecutive429s: 1, cooldownRemainingMs: 30_000 }],
    });
    expect((await first.resetCooldown('operator', null)).anything).toBe(false);
    await first.close();
    const second = await wardens.open(dbPath, policyWith(), clock);
    expect(await second.admit(request(10, 10))).toMatchObject({ kind: 'admitted', probe: false });
    expect(sqlOf(second).all("SELECT actor, reason FROM audit_log WHERE action = 'reset-cooldown' ORDER BY id")).toEqual([
      { actor: 'operator', reason: 'upstream confirmed healthy' },
      { actor: 'operator', reason: null },
    ]);
  });

  it('counts refusals at the next tick', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const warden = await wardens.open(dbPath, policyWith({ requestBudget: 1 }), clock);
    admitted(await warden.admit(request(1, 1)));
    await warden.admit(request(1, 1));
    await warden.admit(request(1, 1));
    await warden.tick();
    expect(sqlOf(warden).get('SELECT refused_budget_total AS budget, refused_cooldown_total AS cooldown FROM limiter_state')).toEqual({
      budget: 2,
      cooldown: 0,
    });
  });

  it('checkpoints the WAL into the database file at its upkeep (the ticker runs it before each tick), not at each commit', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const warden = await wardens.open(dbPath, policyWith(), clock);
    const before = statSync(dbPath).size;
    for (let i = 0; i < 300; i++)
      admitted(
        await warden.admit({ method: 'POST', path: `/v1/messages/${'x'.repeat(200)}`, estimate: { inputTokens: 1, outputTokens: 1 } }),
      );
    expect(statSync(dbPath).size).toBe(before);
    await warden.tick();
    expect(statSync(dbPath).size).toBe(before);
    await warden.maintain();
    expect(statSync(dbPath).size).toBeGreaterThan(before);
  });

  it('prunes request rows after the retention period, keeping rate-limit events', async () => {
    const dbPath = join(scratch.make(), 'ratewarden.db');
    const clock = new FakeClock();
    const warden = await wardens.open(dbPath, policyWith({ retentionMs: 3_600_000 }), clock);
    const old = admitted(await warden.admit(request(10, 10)));
    await warden.upstream429(old, { retryAfterMs: null });
    clock.advance(1_800_000);
    const recent = admitted(await warden.admit(request(10, 10)));
    await warden.settle(recent, { outcome: 'ok', status: 200, usage: null });
    clock.advance(1_800_001);
    expect((await warden.tick()).prunedRequests).toBe(1);
    expect(sqlOf(warden).all('SELECT id FROM requests')).toEqual([{ id: recent }]);
    expect(sqlOf(warden).all('SELECT request_id FROM rate_limit_events')).toEqual([{ request_id: null }]);
    expect(count(warden, 'SELECT COUNT(*) AS n FROM usage_buckets')).toBe(0);
  });
});
