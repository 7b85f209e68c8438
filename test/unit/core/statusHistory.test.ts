import { describe, expect, it } from 'vitest';
import {
  historySince,
  historySpanMs,
  statusHistory,
  withoutCredentials,
  type HistoryRestartEvent,
  type HistoryRows,
} from '../../../src/core/statusHistory.js';

const now = 1_800_000_000_000;

const rows: HistoryRows = {
  adjustments: [{ scope: 's', at: now - 1_000, kind: 'tokens', from: 1_000, to: 700, reason: 'cut' }],
  upstream429s: [],
  reservations: [],
  reservationsInFlight: 0,
  reported: [],
};

const event = (at: number, kind: string): HistoryRestartEvent => ({
  at,
  kind,
  workerPid: 7,
  exitCode: null,
  signal: null,
  cause: null,
  detail: null,
});

describe("statusHistory: the live page's last hour", () => {
  it('spans the hour before now, and passes the store rows through', () => {
    const history = statusHistory(rows, [], now);
    expect(history.since).toBe(now - historySpanMs);
    expect(historySince(now)).toBe(history.since);
    expect(history.spanMs).toBe(3_600_000);
    expect(history.adjustments).toEqual(rows.adjustments);
  });

  it("keeps the supervisor's events of the hour only, oldest first, without the store's ids", () => {
    const recent = [
      { ...event(now - 10, 'worker-ready'), id: 3, supervisorPid: 1 },
      event(now - 20, 'worker-failed'),
      event(now - historySpanMs - 1, 'worker-started'),
    ];
    const history = statusHistory(rows, recent, now);
    expect(history.supervisorEvents).toEqual([event(now - 20, 'worker-failed'), event(now - 10, 'worker-ready')]);
  });
});

describe('withoutCredentials: no password reaches the page through a command line', () => {
  it('cuts the user and password out of every URL, and leaves the rest of the sentence', () => {
    const line = 'ratewarden run --db postgres://ratewarden:s3cret@db.internal:5432/rw --upstream https://api.anthropic.com';
    expect(withoutCredentials(line)).toBe('ratewarden run --db postgres://***@db.internal:5432/rw --upstream https://api.anthropic.com');
    expect(withoutCredentials('postgresql://:only-password@h/db and http://u@h')).toBe('postgresql://***@h/db and http://***@h');
  });

  it('is applied to the supervisor events of the history', () => {
    const started = { ...event(now - 5, 'worker-started'), detail: 'run --db postgres://u:p@h/db' };
    expect(statusHistory(rows, [started], now).supervisorEvents[0]?.detail).toBe('run --db postgres://***@h/db');
  });
});
