import type pg from 'pg';
import type { ReportedRemaining } from '../../core/reported.js';
import type { LimiterState } from '../../core/types.js';
import type { LimiterRepository, ReportedRepository } from '../port.js';
import { loaderByParts } from '../loadByParts.js';
import { reportOf, requestOf, type ReportedDbRow } from '../rows.js';
import type { LoadedRequest, LoadedScope, RequestLoad, ScopeLoad, SnapshotLoader } from '../snapshot.js';
import { stateOf, type StateRow } from '../stateColumns.js';
import type { BatchedConnection, Statement } from './batchedConnection.js';
import type { ReservedRequestId } from './reservedRequestId.js';
import {
  columnList,
  selectRequest,
  selectState,
  sumBuckets,
  sumDaily,
  totalsOf,
  type RequestRow,
  type TotalsRow,
} from './limiterStatements.js';
import { selectReports } from './reportedRepository.js';

/**
 * The request moved to another scope (its key joined a group) between the lock on the scope it
 * was in and the read of it: the transaction runs again, and locks the scope it is in now.
 */
export class RequestMovedScope extends Error {
  override readonly name = 'RequestMovedScope';
}

const reportColumns = 'dimension, limit_value, remaining, reset_at, seen_at, admitted_since, rounding_slack, refill';

/** The scope's reports as one JSON array (`scopeSql` names the scope): one column of a statement that reads other things too. */
function reportsJson(scopeSql: string): string {
  return `(SELECT coalesce(json_agg(r ORDER BY r.dimension), '[]') FROM (SELECT ${reportColumns} FROM reported_remaining WHERE scope = ${scopeSql}) r) AS reports`;
}

/** The window's totals and the reports of scope $1, and (`admitting`) the id drawn for the admission, in one statement. */
function scopeReadsSql(admitting: boolean): string {
  const drawn = admitting ? ", nextval(pg_get_serial_sequence('requests', 'id')) AS request_id" : '';
  return `SELECT t.start, t.input_tokens, t.output_tokens, t.requests, ${reportsJson('$1')}${drawn} FROM (${sumBuckets}) t`;
}

const requestScope = '(SELECT scope FROM requests WHERE id = $1)';
const lockRequestScope = `SELECT scope, ${columnList} FROM limiter_state WHERE scope = ${requestScope} FOR UPDATE`;
const requestReads = `SELECT q.*, ${reportsJson('q.scope')} FROM (${selectRequest}) q`;

/**
 * The load step in one round trip: the scope's row locked first (SELECT … FOR UPDATE), then what
 * the event reads, in a statement sent with it whose snapshot is taken after the lock was granted
 * (READ COMMITTED): the window's totals, the reports and whatever else the event asked for. The
 * request id an admission may need is drawn from the sequence in the same statement, so that the
 * admission's INSERT needs no answer and goes with everything else it writes (an id drawn and not
 * used is a gap, as a rolled-back INSERT would leave).
 */
export class PostgresSnapshotLoader implements SnapshotLoader {
  private readonly byParts: SnapshotLoader;

  constructor(
    private readonly connection: BatchedConnection,
    limiter: LimiterRepository,
    reported: ReportedRepository,
    /** Where an admitting load leaves the id it drew, for the INSERT that follows (limiterRepository.ts). */
    private readonly requestIds: ReservedRequestId,
  ) {
    this.byParts = loaderByParts(limiter, reported);
  }

  async scope(scope: string, load: ScopeLoad): Promise<LoadedScope> {
    const keyScope = keyOf(scope, load.keyScope);
    const admitting = load.admitting === true;
    const statements: Statement[] = [
      { text: `${selectState} FOR UPDATE`, values: [scope] },
      { text: scopeReadsSql(admitting), values: [scope, load.windowFrom] },
    ];
    if (load.dayFrom !== undefined) statements.push({ text: sumDaily, values: [scope, load.dayFrom] });
    statements.push(...keyReads(keyScope));
    const results = rowsOfEach(await this.connection.queryAll(statements));
    const state = stateOfRow(results.shift()?.[0]);
    const reads = results.shift()?.[0] as (TotalsRow & { reports: ReportedDbRow[]; request_id?: number }) | undefined;
    if (reads === undefined) throw new Error(`the load of scope ${scope} returned no row`);
    const day = load.dayFrom === undefined ? null : totalsOf(results.shift()?.[0] as TotalsRow | undefined, load.dayFrom);
    const key =
      keyScope === null ? null : { scope: keyScope, state: stateOfRow(results.shift()?.[0]), reports: reportsOf(results.shift()) };
    if (admitting) this.requestIds.reserve(Number(reads.request_id));
    return { main: { scope, state, totals: totalsOf(reads, load.windowFrom), reports: reads.reports.map(reportOf), day }, key };
  }

  async request(id: number, load: RequestLoad): Promise<LoadedRequest | null> {
    const keyScope = load.keyScope ?? null;
    const statements: Statement[] = [{ text: lockRequestScope, values: [id] }, { text: requestReads, values: [id] }, ...keyReads(keyScope)];
    const results = rowsOfEach(await this.connection.queryAll(statements));
    const locked = results.shift()?.[0] as (StateRow & { scope: string }) | undefined;
    const reads = results.shift()?.[0] as (RequestRow & { reports: ReportedDbRow[] }) | undefined;
    if (reads === undefined) return null;
    if (locked === undefined) return this.byParts.request(id, load);
    if (locked.scope !== reads.scope) throw new RequestMovedScope(`request ${id} moved from scope ${locked.scope} to ${reads.scope}`);
    const main = { scope: locked.scope, state: stateOf(locked), reports: reads.reports.map(reportOf) };
    const keyRows =
      keyScope === null ? null : { scope: keyScope, state: stateOfRow(results.shift()?.[0]), reports: reportsOf(results.shift()) };
    // The load named the key before it knew the request's scope: the same scope is no key layer.
    const key = keyRows !== null && keyRows.scope !== main.scope ? keyRows : null;
    return { request: requestOf(reads), main, key, model: load.model === true ? reads.model : null };
  }
}

/** The key's row locked after the scope's (the order every event takes them in), and its reports. */
function keyReads(keyScope: string | null): Statement[] {
  return keyScope === null
    ? []
    : [
        { text: `${selectState} FOR UPDATE`, values: [keyScope] },
        { text: selectReports, values: [keyScope] },
      ];
}

function keyOf(scope: string, keyScope: string | null | undefined): string | null {
  return keyScope === undefined || keyScope === null || keyScope === scope ? null : keyScope;
}

function rowsOfEach(results: readonly pg.QueryResult[]): pg.QueryResultRow[][] {
  return results.map((result) => result.rows);
}

function stateOfRow(row: pg.QueryResultRow | undefined): LimiterState | null {
  return row === undefined ? null : stateOf(row as StateRow);
}

function reportsOf(rows: pg.QueryResultRow[] | undefined): ReportedRemaining[] {
  return ((rows ?? []) as ReportedDbRow[]).map(reportOf);
}
