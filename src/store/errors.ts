export type StoreProblem =
  | 'missing'
  | 'gone'
  | 'replaced'
  | 'not-a-database'
  | 'corrupt'
  | 'read-only'
  | 'unreadable'
  | 'too-new'
  | 'too-old'
  | 'pragma'
  | 'busy'
  | 'write-failed';

/**
 * The database cannot be used as it is. The message is one line that names the file and what to
 * do; the file is left exactly as it was found.
 */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly problem: StoreProblem,
    message: string,
  ) {
    super(message);
  }
}
