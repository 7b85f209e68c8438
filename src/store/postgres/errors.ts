/**
 * What a failed PostgreSQL call means for the event that made it:
 * - `retry`: the server rolled the transaction back because of another one (serialization
 *   failure, deadlock, lock timeout); running the whole transaction again is correct and
 *   usually succeeds.
 * - `unavailable`: the server cannot be reached or is not serving (refused, reset, shutting
 *   down, starting up, restarted, out of connections, a read-only standby after failover). The
 *   proxy fails closed (503 store-unavailable) and the pool reconnects by itself.
 * - `other`: a bug or a bad configuration (a constraint violated, a missing table, a wrong
 *   password). Retrying would not help; it is reported as it is.
 */
export type PostgresFailureKind = 'retry' | 'unavailable' | 'other';

export interface PostgresFailure {
  kind: PostgresFailureKind;
  /** Short and free of secrets, for logs and the 503's reason. */
  reason: string;
}

const retrySqlStates: Record<string, string> = {
  '40001': 'serialization failure',
  '40P01': 'deadlock',
  '55P03': 'lock timeout',
};

const unavailableSqlStates: Record<string, string> = {
  '57P01': 'server shutting down',
  '57P02': 'server crashed',
  '57P03': 'server starting up or shutting down',
  '53300': 'server out of connections',
  '53100': 'server disk full',
  '53200': 'server out of memory',
  '25006': 'server is read-only (a standby)',
  // A role's or database's statement_timeout (a lock waited on too long, a slow server): not a bug, a 503.
  '57014': 'statement cancelled (statement_timeout)',
};

const unavailableSocketCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

// node-postgres reports a connection lost or never made with these messages and no code.
const unavailableClientMessages = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /is not queryable/,
  // The client's own query deadline (connection.ts) ran out: the server is frozen or unreachable.
  /^Query read timeout/,
];

export function classifyPostgresError(error: unknown): PostgresFailure {
  if (error instanceof AggregateError) {
    // Node's happy-eyeballs connect reports one error per address tried.
    const failures = error.errors.map(classifyPostgresError);
    return failures.find((failure) => failure.kind === 'unavailable') ?? failures[0] ?? other(error);
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const retryReason = retrySqlStates[code];
    if (retryReason) return { kind: 'retry', reason: `${retryReason} (${code})` };
    const unavailableReason = unavailableSqlStates[code];
    if (unavailableReason) return { kind: 'unavailable', reason: `${unavailableReason} (${code})` };
    if (code.startsWith('08')) return { kind: 'unavailable', reason: `connection failure (${code})` };
    if (unavailableSocketCodes.has(code)) return { kind: 'unavailable', reason: `server unreachable (${code})` };
  }
  const message = error instanceof Error ? error.message : '';
  if (unavailableClientMessages.some((pattern) => pattern.test(message))) {
    return { kind: 'unavailable', reason: 'connection lost' };
  }
  return other(error);
}

function other(error: unknown): PostgresFailure {
  const code = (error as { code?: unknown } | null)?.code;
  return { kind: 'other', reason: typeof code === 'string' ? `database error (${code})` : 'database error' };
}
