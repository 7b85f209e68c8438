import { describe, expect, it } from 'vitest';
import { RefusalTally } from '../../../src/warden/refusalTally.js';
import type { PendingRefusals } from '../../../src/warden/tickStep.js';

const asObject = (refusals: PendingRefusals): Record<string, { cooldown: number; budget: number }> => Object.fromEntries(refusals);

describe('the refusal tally', () => {
  it('counts per scope in the two durable columns: a probe wait and a quota stop count with the cooldown', async () => {
    const tally = new RefusalTally();
    tally.count('budget', 'a');
    tally.count('budget', 'a');
    tally.count('cooldown', 'a');
    tally.count('probe', 'b');
    tally.count('quota', 'b');
    tally.count('budget');
    const handed = await tally.handOver(async (refusals) => asObject(refusals));
    expect(handed).toEqual({ a: { cooldown: 1, budget: 2 }, b: { cooldown: 2, budget: 0 }, default: { cooldown: 0, budget: 1 } });
    // Handed over once: the next tick starts from nothing.
    expect(await tally.handOver(async (refusals) => asObject(refusals))).toEqual({});
  });

  it('takes back the counts of a tick that failed, added to those counted meanwhile, so that none is lost or counted twice', async () => {
    const tally = new RefusalTally();
    tally.count('budget', 'a');
    tally.count('cooldown', 'b');
    const failure = new Error('the store cannot be written');
    await expect(
      tally.handOver(async () => {
        tally.count('budget', 'a');
        tally.count('budget', 'c');
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await tally.handOver(async (refusals) => asObject(refusals))).toEqual({
      a: { cooldown: 0, budget: 2 },
      b: { cooldown: 1, budget: 0 },
      c: { cooldown: 0, budget: 1 },
    });
  });
});
