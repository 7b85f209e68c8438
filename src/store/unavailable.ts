/**
 * The store could not run an event (locked too long, disk full, file read-only, server gone).
 * The proxy answers 503 and forwards nothing it could not record. Each backend turns its own
 * driver's errors into this one.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(
    message: string,
    /** The store is gone for good (a deleted, replaced or corrupt file): it will not recover while this process runs. */
    readonly lost = false,
  ) {
    super(message);
  }
}
