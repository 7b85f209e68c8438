import { SeededRandom } from './seededRandom.js';

/**
 * When the crash injector strikes, in ms from the start of a run. Gaps are drawn uniformly from
 * [¾, 1¼] × `meanGapMs`: random, but never bunched so tightly that the crashes test the
 * supervisor's burst limit rather than the limiter. The same seed gives the same schedule, so
 * both setups of a replay crash at the same moments.
 */
export function crashSchedule(seed: number, meanGapMs: number, durationMs: number): number[] {
  if (!(meanGapMs > 0)) return [];
  const random = new SeededRandom(seed).fork('crashes');
  const times: number[] = [];
  for (let at = random.between(0.75, 1.25) * meanGapMs; at < durationMs; at += random.between(0.75, 1.25) * meanGapMs) {
    times.push(Math.round(at));
  }
  return times;
}

export interface Storm {
  /** ms from the start of the run. */
  from: number;
  to: number;
}

export interface StormShape {
  /** Mean time between one storm's end and the next one's start; 0 for no storms. */
  meanGapMs: number;
  /** Storm lengths are drawn uniformly from [min, max]. */
  lengthMs: readonly [number, number];
}

/**
 * When the upstream refuses everything (an account-level limit that someone else's traffic
 * hit): the pushback that starts cooldowns. The first storm comes early, within the first half
 * gap, so that even a short replay has one. Seeded like the crashes, on a stream of its own.
 */
export function stormSchedule(seed: number, shape: StormShape, durationMs: number): Storm[] {
  if (!(shape.meanGapMs > 0)) return [];
  const random = new SeededRandom(seed).fork('storms');
  const storms: Storm[] = [];
  for (let from = random.between(0.25, 0.5) * shape.meanGapMs; from < durationMs;) {
    const to = Math.min(durationMs, from + random.between(shape.lengthMs[0], shape.lengthMs[1]));
    storms.push({ from: Math.round(from), to: Math.round(to) });
    from = to + random.between(0.5, 1.5) * shape.meanGapMs;
  }
  return storms;
}
