import { describe, expect, it } from 'vitest';
import { RefusalHistory } from '../../../src/proxy/refusalHistory.js';

describe("RefusalHistory: the proxy's local refusals per minute, for the live page", () => {
  it('counts 429s and 503s per minute and reason, oldest first, and nothing else', () => {
    let now = 1_800_000_000_000;
    const history = new RefusalHistory(() => now);
    history.add(429, 'cooldown');
    history.add(429, 'cooldown');
    history.add(404, 'reserved-path');
    now += 60_000;
    history.add(429, 'budget');
    history.add(503, 'store-unavailable');
    expect(history.since).toBe(1_800_000_000_000);
    expect(history.counts()).toEqual([
      { minute: 1_800_000_000_000 - (1_800_000_000_000 % 60_000), reason: 'cooldown', count: 2 },
      { minute: now - (now % 60_000), reason: 'budget', count: 1 },
      { minute: now - (now % 60_000), reason: 'store-unavailable', count: 1 },
    ]);
  });

  it('keeps only the last hour: its size does not grow with time', () => {
    let now = 1_800_000_000_000;
    const history = new RefusalHistory(() => now);
    for (let minute = 0; minute < 180; minute++) {
      history.add(429, 'budget');
      now += 60_000;
    }
    const minutes = history.counts().map((line) => line.minute);
    expect(minutes.length).toBeLessThanOrEqual(62);
    expect(Math.min(...minutes)).toBeGreaterThanOrEqual(now - 3_600_000 - 120_000);
  });
});
