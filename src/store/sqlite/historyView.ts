import type { Database, Statement } from 'better-sqlite3';
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

const placeholder = (): string => '?';

/** The last hour of every scope for the live page (the port's StatusRepository.history). */
export class HistoryView {
  private readonly selectAdjustments: Statement<[number, number], HistoryAdjustmentDbRow>;
  private readonly selectUpstream429s: Statement<[number, number], HistoryUpstream429DbRow>;
  private readonly selectReservations: Statement<[number], ReservationDbRow>;
  private readonly countReservations: Statement<[], { count: number }>;
  private readonly selectReported: Statement<[], ReportedDbRow>;

  constructor(private readonly db: Database) {
    this.selectAdjustments = db.prepare(historyAdjustmentsSql(placeholder));
    this.selectUpstream429s = db.prepare(historyUpstream429sSql(placeholder));
    this.selectReservations = db.prepare(reservationsSql(placeholder));
    this.countReservations = db.prepare(reservationCountSql);
    this.selectReported = db.prepare(reportedSql);
  }

  history(query: HistoryQuery): HistoryRows {
    return this.db
      .transaction((): HistoryRows => ({
        adjustments: this.selectAdjustments.all(query.since, query.adjustments).map(historyAdjustmentOf).reverse(),
        upstream429s: this.selectUpstream429s.all(query.since, query.upstream429s).map(historyUpstream429Of).reverse(),
        reservations: this.selectReservations.all(query.reservations).map(reservationOf),
        reservationsInFlight: this.countReservations.get()?.count ?? 0,
        reported: this.selectReported.all().map(reportedLineOf),
      }))
      .deferred();
  }
}
