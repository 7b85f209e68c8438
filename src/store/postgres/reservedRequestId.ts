/**
 * The request id a writing transaction's admitting load drew from the sequence (snapshotLoader.ts),
 * for the INSERT of the admission that follows: named in advance, the INSERT needs no answer and
 * waits for COMMIT with the rest of the event's writes.
 */
export class ReservedRequestId {
  private id: number | null = null;

  reserve(id: number): void {
    this.id = id;
  }

  /** The id, once; null when none was drawn (the INSERT then asks the server for one). */
  take(): number | null {
    const id = this.id;
    this.id = null;
    return id;
  }
}
