import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Report } from '../../../src/core/reported.js';
import { FakeClock, policyWith } from '../../helpers/limiterFixtures.js';
import { admitted, OpenWardens } from '../../helpers/openWardens.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';

const scratch = new ScratchDirs();
const wardens = new OpenWardens();

afterEach(async () => {
  await wardens.closeAll();
  scratch.removeAll();
});

const policy = policyWith({ windowMs: 60_000, probeTimeoutMs: 60_000 });

/** A streamed turn as Claude Code sends it: max_tokens 32 000, about 900 written (what was learned). */
const stream = { method: 'POST', path: '/v1/messages', estimate: { inputTokens: 2_000, outputTokens: 900 }, reportedOutput: 32_000 };

/** Anthropic's buckets as a head reports them (80 000 OTPM, 400 000 ITPM, 4 000 RPM), `output` left of OTPM. */
function heads(now: number, output: number): Report[] {
  return [
    {
      dimension: 'output-tokens',
      limit: 80_000,
      remaining: output,
      resetAt: now + Math.ceil(((80_000 - output) / 80_000) * 60_000),
      roundingSlack: 500,
      refill: 'bucket',
    },
    { dimension: 'input-tokens', limit: 400_000, remaining: 390_000, resetAt: now + 1_500, roundingSlack: 500, refill: 'bucket' },
    { dimension: 'requests', limit: 4_000, remaining: 3_990, resetAt: now + 150, roundingSlack: 0, refill: 'bucket' },
  ];
}

describe('reports adopted at the response head, charges as the upstream charges', () => {
  it('a cold proxy knows the limits at the first head; two 32 000-token streams fit an 80 000 OTPM bucket, a third waits until one ends', async () => {
    const clock = new FakeClock();
    const warden = await wardens.open(join(scratch.make(), 'ratewarden.db'), policy, clock);
    const a = admitted(await warden.admit(stream));
    await warden.observeHead(a, { status: 200, reports: heads(clock.now, 48_000), reportsReadAt: clock.now });
    // Known at the head, while the stream still runs.
    const output = (await warden.views.scopeStates())[0]?.reports.find((report) => report.dimension === 'output-tokens');
    expect(output).toMatchObject({ remaining: 48_000, seenAt: clock.now, admittedSince: 0 });

    clock.advance(10);
    const b = admitted(await warden.admit(stream));
    expect(await warden.admit(stream)).toMatchObject({
      kind: 'rejected',
      reason: 'budget',
      message: expect.stringMatching(/output-tokens/),
    });
    // B's head: the upstream charged B; A is still in flight, so it is counted on top of that report.
    await warden.observeHead(b, { status: 200, reports: heads(clock.now, 16_000), reportsReadAt: clock.now });
    expect(await warden.admit(stream)).toMatchObject({ kind: 'rejected', reason: 'budget' });

    // A ends having written 600 tokens: 31 400 come back at once.
    clock.advance(10);
    await warden.settle(a, {
      outcome: 'ok',
      status: 200,
      usage: { inputTokens: 2_000, outputTokens: 600 },
      reportedSettle: 'refund-to-usage',
    });
    admitted(await warden.admit(stream));
  });

  it('a head read earlier but recorded later does not replace a newer report', async () => {
    const clock = new FakeClock();
    const warden = await wardens.open(join(scratch.make(), 'ratewarden.db'), policy, clock);
    const a = admitted(await warden.admit(stream));
    const b = admitted(await warden.admit(stream));
    const readA = clock.now;
    clock.advance(200);
    await warden.observeHead(b, { status: 200, reports: heads(clock.now, 16_000), reportsReadAt: clock.now });
    clock.advance(50);
    await warden.observeHead(a, { status: 200, reports: heads(readA, 48_000), reportsReadAt: readA });
    const output = (await warden.views.scopeStates())[0]?.reports.find((report) => report.dimension === 'output-tokens');
    expect(output).toMatchObject({ remaining: 16_000, seenAt: readA + 200 });
  });

  it('keeps the charge when the rule gives nothing back (OpenAI), and gives everything back for a request the upstream never had', async () => {
    const clock = new FakeClock();
    const warden = await wardens.open(join(scratch.make(), 'ratewarden.db'), policy, clock);
    const tokens: Report = {
      dimension: 'tokens',
      limit: 100_000,
      remaining: 90_000,
      resetAt: clock.now + 6_000,
      roundingSlack: 0,
      refill: 'window',
    };
    const first = admitted(await warden.admit({ ...stream, reportedOutput: 8_000 }));
    await warden.observeHead(first, { status: 200, reports: [tokens], reportsReadAt: clock.now });
    const kept = admitted(await warden.admit({ ...stream, reportedOutput: 8_000 }));
    const lost = admitted(await warden.admit({ ...stream, reportedOutput: 8_000 }));
    const sentSince = async (): Promise<number | undefined> => (await warden.views.scopeStates())[0]?.reports[0]?.admittedSince;
    expect(await sentSince()).toBe(20_000);
    await warden.settle(kept, {
      outcome: 'ok',
      status: 200,
      usage: { inputTokens: 1_500, outputTokens: 100 },
      reportedSettle: 'keep-charge',
    });
    expect(await sentSince()).toBe(20_000);
    await warden.settle(lost, { outcome: 'unreachable', status: null, usage: null, reportedSettle: 'keep-charge' });
    expect(await sentSince()).toBe(10_000);
  });
});

describe("a key's own layer in its organization's group", () => {
  const organization = { provider: 'anthropic', organization: 'c0ffee00-1111-2222-3333-444455556666', project: null } as const;
  const keyScope = 'abcdef0123456789/claude-sonnet';
  const group = `org:${organization.organization}/claude-sonnet`;
  /** Tier 1's OTPM bucket (8 000), which a 32 000 max_tokens stream takes whole when it starts. */
  const tier1 = (now: number, output: number): Report[] => [
    {
      dimension: 'output-tokens',
      limit: 8_000,
      remaining: output,
      resetAt: now + Math.ceil(((8_000 - output) / 8_000) * 60_000),
      roundingSlack: 500,
      refill: 'bucket',
    },
    { dimension: 'requests', limit: 50, remaining: 49, resetAt: now + 1_200, roundingSlack: 0, refill: 'bucket' },
  ];

  it('gets back the unused max_tokens when the stream ends, as the group does, instead of waiting a whole refill', async () => {
    const clock = new FakeClock();
    const warden = await wardens.open(join(scratch.make(), 'ratewarden.db'), policy, clock);
    await warden.learnOrganization('abcdef0123456789', organization);
    const request = { ...stream, estimate: { inputTokens: 2_000, outputTokens: 32_000 }, scope: group, keyScope };
    const a = admitted(await warden.admit(request));
    await warden.observeHead(a, { status: 200, reports: tier1(clock.now, 0), reportsReadAt: clock.now });
    clock.advance(10);
    // The stream holds the whole bucket: the next one waits for it.
    expect(await warden.admit(request)).toMatchObject({ kind: 'rejected', reason: 'budget' });

    // A ends 2 s later having written 300 tokens: the upstream refunds the rest to every limit that held it.
    clock.advance(2_000);
    await warden.settle(a, {
      outcome: 'ok',
      status: 200,
      usage: { inputTokens: 2_000, outputTokens: 300 },
      reportedSettle: 'refund-to-usage',
    });
    admitted(await warden.admit(request));
  });
});

describe('the half-open probe judged at its head', () => {
  async function probing(clock: FakeClock) {
    const warden = await wardens.open(join(scratch.make(), 'ratewarden.db'), policy, clock);
    const victim = admitted(await warden.admit(stream));
    const until = (await warden.upstream429(victim, { retryAfterMs: 5_000 }))?.cooldownUntil as number;
    expect(await warden.admit(stream)).toMatchObject({ kind: 'rejected', reason: 'cooldown' });
    clock.now = until;
    const probe = await warden.admit(stream);
    expect(probe).toMatchObject({ kind: 'admitted', probe: true });
    return { warden, probe: admitted(probe) };
  }

  it('a 2xx head lets the others go while the probe still streams; its settle later changes nothing', async () => {
    const clock = new FakeClock();
    const { warden, probe } = await probing(clock);
    const waiting = await warden.admit(stream);
    expect(waiting).toMatchObject({ kind: 'rejected', reason: 'probe' });
    expect(await warden.views.cooldownRefusal()).toBeNull();
    clock.advance(300);
    await warden.observeHead(probe, { status: 200 });
    expect(await warden.views.readState(await onlyScope(warden))).toMatchObject({
      cooldownUntil: null,
      consecutive429s: 0,
      probeRequestId: null,
      lastProbeSuccessAt: clock.now,
    });
    admitted(await warden.admit(stream));
    clock.advance(30_000);
    await warden.settle(probe, { outcome: 'aborted', status: null, usage: { inputTokens: 2_000, outputTokens: 50 } });
    expect(await warden.views.readState(await onlyScope(warden))).toMatchObject({ cooldownUntil: null, consecutive429s: 0 });
  });

  it('a 5xx head lets the next request probe', async () => {
    const clock = new FakeClock();
    const { warden, probe } = await probing(clock);
    await warden.observeHead(probe, { status: 503 });
    expect(await warden.admit(stream)).toMatchObject({ kind: 'admitted', probe: true });
  });
});

async function onlyScope(warden: Awaited<ReturnType<OpenWardens['open']>>): Promise<string> {
  const scopes = await warden.views.activeScopes();
  expect(scopes).toHaveLength(1);
  return scopes[0] as string;
}
