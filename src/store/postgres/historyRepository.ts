import type { HistoryRows } from '../../core/statusHistory.js';
import {
  historyAdjustmentOf,
  historyAdjustmentsSql,
  historyUpstream429Of,
  historyUpstream429sSql,
  reportedLineOf,
  reportedSql,
  reservationCountSql,
  reservationOf,
  reservationsSql,
  type HistoryAdjustmentDbRow,
  type HistoryUpstream429DbRow,
  type ReportedDbRow,
  type ReservationDbRow,
} from '../historyRows.js';
import type { HistoryQuery } from '../port.js';
import { firstRow, rowsOf, type Queryable } from './statements.js';

const placeholder = (n: number): string => `$${n}`;

/** The last hour of every scope for the live page, inside the caller's read transaction. */
export async function historyOf(client: Queryable, query: HistoryQuery): Promise<HistoryRows> {
  const adjustments = await rowsOf<HistoryAdjustmentDbRow>(client, historyAdjustmentsSql(placeholder), [query.since, query.adjustments]);
  const upstream429s = await rowsOf<HistoryUpstream429DbRow>(client, historyUpstream429sSql(placeholder), [
    query.since,
    query.upstream429s,
  ]);
  const reservations = await rowsOf<ReservationDbRow>(client, reservationsSql(placeholder), [query.reservations]);
  const count = await firstRow<{ count: number | string }>(client, reservationCountSql);
  const reported = await rowsOf<ReportedDbRow>(client, reportedSql);
  return {
    adjustments: adjustments.map(historyAdjustmentOf).reverse(),
    upstream429s: upstream429s.map(historyUpstream429Of).reverse(),
    reservations: reservations.map(reservationOf),
    reservationsInFlight: Number(count?.count ?? 0),
    reported: reported.map(reportedLineOf),
  };
}
