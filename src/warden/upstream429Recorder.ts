import type { LimiterPolicy } from '../core/types.js';
import { heldFileOfProcess, takeOverHeldFiles, writeHeldFile } from '../store/held429File.js';
import type { Clock } from '../kernel/clock.js';
import type { Upstream429Input, Upstream429Result } from './eventTypes.js';
import { Held429s } from './held429s.js';
import type { Admission } from './types.js';

export type Record429Outcome = { kind: 'recorded'; result: Upstream429Result | null } | { kind: 'held'; because: string };

/** What the proxy asks of the recorder: record a 429 as it arrives; the ticker retries the held ones; the stop reports them. */
export type Upstream429Access = Pick<Upstream429Recorder, 'record429' | 'count' | 'keptIn' | 'recordHeld'>;

/**
 * Records the upstream 429s through the warden's `upstream429`, and holds those the store could
 * not record (held429s.ts), in memory and in this process's held file.
 */
export class Upstream429Recorder {
  private readonly held429s = new Held429s();
  /** The upstream 429s being recorded now (record429). */
  private readonly recording429s = new Set<Promise<unknown>>();
  /** This process's own held file (held429File.ts), and the common name every process's file starts with. */
  private readonly heldFile: string | null;
  private readonly heldFiles: string | null;
  /** Whether the held 429s are in the held file as they are now (the disk may be full too). */
  private heldFileCurrent = true;

  constructor(
    heldFile: string | null,
    pid: number,
    private readonly clock: Clock,
    private readonly upstream429: (requestId: number, input: Upstream429Input) => Promise<Upstream429Result | null>,
  ) {
    this.heldFiles = heldFile;
    this.heldFile = heldFile === null ? null : heldFileOfProcess(heldFile, pid);
  }

  /**
   * An upstream 429 the store could not record: held and retried (held429s.ts); admissions are
   * refused meanwhile. Also kept in a file beside the database, so that a stop or a restart
   * while the database stays locked does not lose it (best effort: the disk may be full too).
   */
  private hold429(requestId: number, input: Upstream429Input): void {
    this.held429s.hold(requestId, input, this.clock());
    if (this.heldFile !== null) this.heldFileCurrent = writeHeldFile(this.heldFile, this.held429s.entries());
  }

  /**
   * An upstream 429 as it arrives: recorded, or held when the store cannot be written. Until
   * one or the other, admissions asked wait for it (see Warden.admit): on a server the store runs
   * transactions side by side, and one asked after the 429 must not commit and forward while
   * the 429's own transaction fails.
   */
  async record429(requestId: number, input: Upstream429Input): Promise<Record429Outcome> {
    const recording = this.upstream429(requestId, input).then(
      (result) => ({ kind: 'recorded' as const, result }),
      (error: unknown) => {
        // Fail closed whatever the failure (a statement timeout, a value the store refuses, a
        // bug): a 429 not recorded is held, never dropped (issue 26 item 1).
        this.hold429(requestId, input);
        return { kind: 'held' as const, because: error instanceof Error ? error.message : String(error) };
      },
    );
    this.recording429s.add(recording);
    try {
      return await recording;
    } finally {
      this.recording429s.delete(recording);
    }
  }

  /** Whether a 429 is being recorded now: admissions asked meanwhile wait for it (see record429). */
  get recording(): boolean {
    return this.recording429s.size > 0;
  }

  /** Settles once every 429 being recorded now is recorded or held. */
  recorded(): Promise<unknown> {
    return Promise.allSettled([...this.recording429s]);
  }

  /** The local refusal while any 429 is held, or null. */
  heldRefusal(policy: LimiterPolicy): Admission | null {
    return this.held429s.refusal(this.clock, policy);
  }

  /** At open: the 429s an earlier process held are recorded now, or held again. */
  async restore(): Promise<void> {
    if (this.heldFile === null || this.heldFiles === null) return;
    // Throws StoreError (exit 3) on a held file that cannot be read: starting without it would forward into a cooldown.
    const entries = takeOverHeldFiles(this.heldFiles, this.heldFile);
    if (entries.length === 0) return;
    for (const entry of entries) this.held429s.restore(entry);
    try {
      await this.recordHeld();
    } catch {
      // Still held, whatever stopped them (as record429): the ticker retries, and admissions are refused meanwhile.
    }
  }

  /** How many upstream 429s are held now. */
  get count(): number {
    return this.held429s.size;
  }

  /** Where the held 429s are kept across a stop; null when they are not (in memory only, or the file could not be written). */
  get keptIn(): string | null {
    return this.heldFileCurrent ? this.heldFile : null;
  }

  /** Records the held 429s; throws StoreUnavailableError while the store still cannot be written. */
  async recordHeld(): Promise<(Upstream429Result | null)[]> {
    try {
      return await this.held429s.recordWith((requestId, input) => this.upstream429(requestId, input));
    } finally {
      if (this.heldFile !== null) this.heldFileCurrent = writeHeldFile(this.heldFile, this.held429s.entries());
    }
  }
}
