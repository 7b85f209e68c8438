import { describe, expect, it } from 'vitest';
import { defaultLimiterPolicy } from '../../../src/core/types.js';
import { Held429s } from '../../../src/warden/held429s.js';

const policy = { ...defaultLimiterPolicy, backoffBaseMs: 30_000 };

describe('held upstream 429s', () => {
  it('refuse nothing while none is held', () => {
    expect(new Held429s().refusal(() => 0, policy)).toBeNull();
  });

  it('refuse as a cooldown for at least the first rung of the ladder, or the Retry-After when longer, from when the 429 came', () => {
    const held = new Held429s();
    held.hold(1, { retryAfterMs: null }, 1_000);
    expect(held.refusal(() => 11_000, policy)).toMatchObject({ kind: 'rejected', reason: 'cooldown', retryAfterMs: 20_000 });
    held.hold(2, { retryAfterMs: 90_000 }, 5_000);
    expect(held.refusal(() => 11_000, policy)).toMatchObject({ retryAfterMs: 84_000 });
    expect(held.refusal(() => 1_000_000, policy)).toMatchObject({ retryAfterMs: 1_000 });
  });

  it('keep what could not be recorded, oldest first, and let go of what was', async () => {
    const held = new Held429s();
    held.hold(1, { retryAfterMs: null }, 0);
    held.hold(2, { retryAfterMs: null }, 1);
    held.hold(1, { retryAfterMs: 5 }, 2);
    expect(held.size).toBe(2);
    const tried: number[] = [];
    await expect(
      held.recordWith(async (requestId) => {
        tried.push(requestId);
        if (requestId === 2) throw new Error('still locked');
        return requestId;
      }),
    ).rejects.toThrow('still locked');
    expect(tried).toEqual([1, 2]);
    expect(held.size).toBe(1);
    expect(await held.recordWith(async (requestId) => requestId)).toEqual([2]);
    expect(held.size).toBe(0);
  });
});
