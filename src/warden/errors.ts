/**
 * The store could not record an event (locked too long, disk full, file gone read-only).
 * The proxy answers 503 and forwards nothing it could not record.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}
