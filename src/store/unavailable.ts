/**
 * The store cannot be used now: the proxy fails closed (503 store-unavailable) and tries again
 * later. `lost`: the store is gone for good (a deleted or corrupt file), not only unusable for
 * now. Each backend classifies its own driver's errors into it; the message is one line, safe to
 * show (never a password).
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(
    message: string,
    readonly lost = false,
  ) {
    super(message);
  }
}
