import { learnedOutput } from '../core/outputEstimate.js';
import type { Store } from '../store/port.js';
import type { Clock } from '../kernel/clock.js';

/** How often the learned output reservations are computed again from the samples. */
const relearnEveryMs = 1_000;

/** The output reservation learned per model from the settled samples of every process. */
export class LearnedOutputs {
  private learned = new Map<string, number | null>();
  private learnedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly clock: Clock) {}

  /** The learned output reservation of a model, or null while too little is known about it. */
  of(model: string | null): number | null {
    return model === null ? null : (this.learned.get(model) ?? null);
  }

  /**
   * Outside any transaction, like the checkpoint: reads only, so every process learns from
   * every other's samples. At most once a second: a percentile of hundreds of samples moves slowly.
   */
  async relearn(store: Store): Promise<void> {
    const now = this.clock();
    if (now - this.learnedAt < relearnEveryMs) return;
    this.learnedAt = now;
    const samples = await store.read((tx) => tx.reported.outputSamples());
    const next = new Map<string, number | null>();
    for (const [model, outputs] of samples) next.set(model, learnedOutput(outputs));
    this.learned = next;
  }
}
