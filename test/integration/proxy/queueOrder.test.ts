import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AdmissionQueue, type QueueWarden } from '../../../src/proxy/admissionQueue.js';
import type { Admission, AdmitInput } from '../../../src/warden/types.js';
import type { Warden } from '../../../src/warden/warden.js';
import { FakeClock, policyWith } from '../../helpers/limiterFixtures.js';
import { admitted, OpenWardens } from '../../helpers/openWardens.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';
import { sqlOf } from '../../helpers/sqliteWarden.js';

const scratch = new ScratchDirs();
const wardens = new OpenWardens();
const queues: AdmissionQueue[] = [];
const stopping = { kind: 'rejected', reason: 'budget', retryAfterMs: 1_000, message: 'the test is over' } as const;

afterEach(async () => {
  for (const queue of queues.splice(0)) queue.close(stopping);
  await wardens.closeAll();
  scratch.removeAll();
});

const request = (inputTokens: number): AdmitInput => ({ method: 'POST', path: '/v1/messages', estimate: { inputTokens, outputTokens: 0 } });
const windowMs = 60_000;

/** A warden whose admits can be held at a barrier: the test decides when a decision comes back. */
class GatedWarden implements QueueWarden {
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;
  private reached: () => void = () => undefined;
  /** Resolves when an admit is waiting at the closed gate. */
  waiting: Promise<void> = Promise.resolve();
  admits = 0;

  constructor(private readonly warden: Warden) {}

  close(): void {
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
    this.waiting = new Promise((resolve) => {
      this.reached = resolve;
    });
  }

  release(): void {
    this.open();
  }

  async admit(input: AdmitInput, countRefusals?: boolean, decided?: (admission: Admission) => void): Promise<Admission> {
    this.admits += 1;
    this.reached();
    await this.gate;
    return this.warden.admit(input, countRefusals, decided);
  }

  get views(): Warden['views'] {
    return this.warden.views;
  }

  giveBack(requestId: number): Promise<void> {
    return this.warden.giveBack(requestId);
  }
}

/** A warden whose window (budget 1 000 tokens) already holds 900. */
async function nearlyFull(clock: FakeClock): Promise<Warden> {
  const warden = await wardens.open(join(scratch.make(), 'ratewarden.db'), policyWith({ windowMs, tokenBudget: 1_000 }), clock);
  const fill = admitted(await warden.admit(request(900)));
  await warden.settle(fill, { outcome: 'ok', status: 200, usage: { inputTokens: 900, outputTokens: 0 } });
  return warden;
}

async function lengthReaches(queue: AdmissionQueue, length: number): Promise<void> {
  while (queue.length !== length) await new Promise((resolve) => setImmediate(resolve));
}

describe('the fair queue over an asynchronous store', () => {
  it('asks the next newcomer once an admitted one is decided, before its COMMIT: the admissions of one scope share a group commit', async () => {
    const clock = new FakeClock();
    const warden = await wardens.open(join(scratch.make(), 'ratewarden.db'), policyWith({ windowMs, tokenBudget: 1_000_000 }), clock);
    const seen: string[] = [];
    const recording: QueueWarden = {
      admit: (input, countRefusals, decided) => {
        const name = `${input.estimate.inputTokens}`;
        seen.push(`asked ${name}`);
        return warden.admit(input, countRefusals, decided).then((admission) => {
          seen.push(`durable ${name}`);
          return admission;
        });
      },
      views: warden.views,
      giveBack: (requestId) => warden.giveBack(requestId),
    };
    const queue = new AdmissionQueue(recording, clock.read, { maxWaitMs: 60_000, maxQueue: 10 });
    queues.push(queue);
    const never = (): AbortSignal => new AbortController().signal;

    const admissions = await Promise.all([queue.admit(request(1), never), queue.admit(request(2), never)]);
    expect(admissions.map((admission) => admission?.kind)).toEqual(['admitted', 'admitted']);
    // Waiting for each COMMIT would give asked 1, durable 1, asked 2, durable 2: one admission per group commit.
    expect(seen).toEqual(['asked 1', 'asked 2', 'durable 1', 'durable 2']);
  });

  it('decides newcomers in arrival order: a small one arriving while a large one is still being decided waits behind it', async () => {
    const clock = new FakeClock();
    const warden = new GatedWarden(await nearlyFull(clock));
    const queue = new AdmissionQueue(warden, clock.read, { maxWaitMs: 60_000, maxQueue: 10 });
    queues.push(queue);
    const never = (): AbortSignal => new AbortController().signal;

    warden.close();
    const large = queue.admit(request(600), never);
    await warden.waiting;
    // The large one's decision is held at the gate; the small one (which would fit) arrives now.
    const small = queue.admit(request(20), never);
    warden.release();
    await lengthReaches(queue, 2);
    expect(warden.admits).toBe(1);

    // Room comes back (the fill leaves the window): both are admitted, the large one first.
    clock.advance(windowMs + 1_000);
    queue.nudge();
    const order: string[] = [];
    await Promise.all([large.then(() => order.push('large')), small.then(() => order.push('small'))]);
    expect(order).toEqual(['large', 'small']);
    expect((await large)?.kind).toBe('admitted');
    expect((await small)?.kind).toBe('admitted');
  });

  it('releases the reservation of a head whose client left while the pump was admitting it, and admits it once', async () => {
    const clock = new FakeClock();
    const real = await nearlyFull(clock);
    const warden = new GatedWarden(real);
    const queue = new AdmissionQueue(warden, clock.read, { maxWaitMs: 60_000, maxQueue: 10 });
    queues.push(queue);
    const client = new AbortController();

    const waiting = queue.admit(request(600), () => client.signal);
    await lengthReaches(queue, 1);
    clock.advance(windowMs + 1_000);
    warden.close();
    queue.nudge();
    await warden.waiting;
    // The pump's admit of the head is held at the gate when its client goes away.
    client.abort();
    expect(await waiting).toBeNull();
    const admitsBefore = warden.admits;
    warden.release();
    await lengthReaches(queue, 0);
    // Settled as aborted with nothing spent: nothing stays reserved for a request nobody forwards.
    const settledHead = (): number | undefined =>
      sqlOf(real).get<{ n: number }>("SELECT COUNT(*) AS n FROM requests WHERE est_input_tokens = 600 AND outcome <> 'in-flight'")?.n;
    while (settledHead() !== 1) await new Promise((resolve) => setImmediate(resolve));
    expect(sqlOf(real).all('SELECT outcome, input_tokens FROM requests WHERE est_input_tokens = 600')).toEqual([
      { outcome: 'aborted', input_tokens: 0 },
    ]);
    expect(await real.views.currentUsage()).toEqual({ tokens: 0, requests: 1 });
    expect(warden.admits).toBe(admitsBefore);
  });
});
