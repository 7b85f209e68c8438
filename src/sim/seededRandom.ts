/**
 * A small seeded pseudo-random generator (mulberry32), so that a replay with the same seed draws
 * the same request sizes, think times and crash schedule. Not for anything secret.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A value in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** A value in [low, high). */
  between(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** A whole number in [low, high]. */
  integer(low: number, high: number): number {
    return Math.floor(this.between(low, high + 1));
  }

  /** Exponentially distributed with the given mean: the gaps between independent events. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }

  /**
   * An independent stream for one purpose (`crashes`, `client 3`): what one purpose draws never
   * shifts what another does, so adding a client leaves the crash schedule as it was.
   */
  fork(purpose: string): SeededRandom {
    let hash = this.state ^ 0x9e3779b9;
    for (let index = 0; index < purpose.length; index++) hash = Math.imul(hash ^ purpose.charCodeAt(index), 0x01000193);
    return new SeededRandom(hash >>> 0);
  }
}
