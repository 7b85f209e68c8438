import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../src/kernel/log.js';
import { CachedShareLearner } from '../../../src/proxy/cachedShareLearner.js';
import { providerAdapter } from '../../../src/proxy/providers/adapter.js';
import { exchangeRecorder, type RecorderSetup } from '../../../src/proxy/recorder.js';
import type { Warden } from '../../../src/warden/warden.js';
import { FakeClock, policyWith } from '../../helpers/limiterFixtures.js';
import { admitted, OpenWardens } from '../../helpers/openWardens.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';

const scratch = new ScratchDirs();
const wardens = new OpenWardens();

afterEach(async () => {
  vi.restoreAllMocks();
  await wardens.closeAll();
  scratch.removeAll();
});

const request = { method: 'POST', path: '/v1/messages', estimate: { inputTokens: 100, outputTokens: 500 } };

/** An Anthropic answer's head: 4 000 RPM with 3 990 left, as the API reports it. */
function headers(now: number): Record<string, string> {
  return {
    'anthropic-ratelimit-requests-limit': '4000',
    'anthropic-ratelimit-requests-remaining': '3990',
    'anthropic-ratelimit-requests-reset': new Date(now + 1_000).toISOString(),
  };
}

/** A recorder over a real warden, and a promise of its next settle (or head) told to the queue. */
function recorderFor(warden: Warden, clock: FakeClock, requestId: number) {
  let told: () => void = () => undefined;
  const setup: RecorderSetup = {
    warden,
    tokenMetric: 'total',
    limitShape: 'auto',
    clock: clock.read,
    log: createLogger('json', () => undefined),
    onSettled: () => told(),
    cachedShares: new CachedShareLearner(clock.read),
  };
  const exchange = {
    method: 'POST',
    path: '/v1/messages',
    provider: providerAdapter('anthropic'),
    scope: 'default',
    session: null,
    estimatedInput: 100,
  };
  const next = (): Promise<void> => new Promise((resolve) => (told = resolve));
  return { recorder: exchangeRecorder(setup, requestId, exchange), next };
}

const turnEnds = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A warden on a new database whose head and settle events are counted, one request admitted, and its recorder. */
async function admittedRequest() {
  const clock = new FakeClock();
  const warden = await wardens.open(join(scratch.make(), 'ratewarden.db'), policyWith({ windowMs: 60_000 }), clock);
  const heads = vi.spyOn(warden, 'observeHead');
  const settles = vi.spyOn(warden, 'settle');
  const id = admitted(await warden.admit(request));
  return { clock, warden, heads, settles, ...recorderFor(warden, clock, id) };
}

describe("an answer's head and its end (issue 25)", () => {
  it('records an answer that ended in the turn its head came in one transaction, the head first', async () => {
    const { clock, warden, heads, settles, recorder, next } = await admittedRequest();

    const settled = next();
    recorder.headArrived(200, headers(clock.now));
    recorder.answered(200, headers(clock.now), { inputTokens: 100, outputTokens: 20 });
    await settled;

    expect(heads).not.toHaveBeenCalled();
    expect(settles).toHaveBeenCalledTimes(1);
    expect(settles.mock.calls[0]?.[2]).toMatchObject({ status: 200 });
    const [state] = await warden.views.scopeStates();
    expect(state?.reports.find((report) => report.dimension === 'requests')).toMatchObject({ limit: 4_000, remaining: 3_990 });
    expect(state?.usage).toMatchObject({ tokens: 120, requests: 1 });
  });

  it("records a stream's head on its own at the end of its turn, and its end later without it", async () => {
    const { clock, warden, heads, settles, recorder, next } = await admittedRequest();

    const headRecorded = next();
    recorder.headArrived(200, headers(clock.now));
    await turnEnds();
    await headRecorded;
    expect(heads).toHaveBeenCalledTimes(1);
    // Known while the stream still runs.
    const [during] = await warden.views.scopeStates();
    expect(during?.reports.find((report) => report.dimension === 'requests')).toMatchObject({ remaining: 3_990 });

    const settled = next();
    recorder.answered(200, headers(clock.now), { inputTokens: 100, outputTokens: 20 });
    await settled;
    expect(settles).toHaveBeenCalledTimes(1);
    expect(settles.mock.calls[0]?.[2]).toBeUndefined();
    const [after] = await warden.views.scopeStates();
    expect(after?.usage).toMatchObject({ tokens: 120, requests: 1 });
  });
});
