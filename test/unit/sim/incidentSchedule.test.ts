import { describe, expect, it } from 'vitest';
import { crashSchedule, stormSchedule } from '../../../src/sim/incidentSchedule.js';
import { SeededRandom } from '../../../src/sim/seededRandom.js';

const shape = { meanGapMs: 30_000, lengthMs: [6_000, 12_000] } as const;

describe('the crash schedule', () => {
  it('is the same for the same seed, and differs between seeds', () => {
    expect(crashSchedule(7, 12_000, 120_000)).toEqual(crashSchedule(7, 12_000, 120_000));
    expect(crashSchedule(7, 12_000, 120_000)).not.toEqual(crashSchedule(8, 12_000, 120_000));
  });

  it('spaces crashes ¾ to 1¼ of the mean apart, all within the run', () => {
    for (let seed = 0; seed < 50; seed++) {
      const times = crashSchedule(seed, 12_000, 300_000);
      expect(times.length).toBeGreaterThanOrEqual(19);
      expect(times[0]).toBeGreaterThanOrEqual(9_000);
      expect(times[0]).toBeLessThanOrEqual(15_000);
      for (let index = 1; index < times.length; index++) {
        const gap = (times[index] as number) - (times[index - 1] as number);
        expect(gap).toBeGreaterThanOrEqual(8_999);
        expect(gap).toBeLessThanOrEqual(15_001);
      }
      expect(times.at(-1)).toBeLessThan(300_000);
    }
  });

  it('is empty when crashes are off', () => {
    expect(crashSchedule(1, 0, 60_000)).toEqual([]);
  });

  it('draws from a stream of its own: one purpose never shifts another', () => {
    const stream = (purpose: string): number[] => {
      const random = new SeededRandom(3).fork(purpose);
      return [random.next(), random.next()];
    };
    expect(stream('crashes')).toEqual(stream('crashes'));
    expect(stream('crashes')).not.toEqual(stream('storms'));
    expect(stream('crashes')).not.toEqual(stream('client 0'));
  });
});

describe('the storm schedule', () => {
  it('is deterministic per seed, with the first storm in the first half gap', () => {
    expect(stormSchedule(5, shape, 120_000)).toEqual(stormSchedule(5, shape, 120_000));
    for (let seed = 0; seed < 50; seed++) {
      const storms = stormSchedule(seed, shape, 120_000);
      expect(storms[0]?.from).toBeGreaterThanOrEqual(7_500);
      expect(storms[0]?.from).toBeLessThanOrEqual(15_000);
      for (const [index, storm] of storms.entries()) {
        expect(storm.to - storm.from).toBeLessThanOrEqual(12_000);
        if (storm.to < 120_000) expect(storm.to - storm.from).toBeGreaterThanOrEqual(6_000);
        const next = storms[index + 1];
        if (next !== undefined) expect(next.from - storm.to).toBeGreaterThanOrEqual(15_000);
      }
    }
  });

  it('is empty when storms are off', () => {
    expect(stormSchedule(1, { ...shape, meanGapMs: 0 }, 60_000)).toEqual([]);
  });
});
