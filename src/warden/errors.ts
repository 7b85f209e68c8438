/**
 * The store could not record an event (locked too long, disk full, file gone read-only).
 * The proxy answers 503 and forwards nothing it could not record.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(
    message: string,
    /** The file is corrupt, deleted or replaced: it will not recover while this process runs. */
    readonly lasting = false,
  ) {
    super(message);
  }
}
