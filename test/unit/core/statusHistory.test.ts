import { describe, expect, it } from 'vitest';
import { historySince, historySpanMs, statusHistory, type HistoryRestartEvent, type HistoryRows } from '../../../src/core/statusHistory.js';

const now = 1_800_000_000_000;

const rows: HistoryRows = {
  adjustments: [{ scope: 's', at: now - 1_000, kind: 'tokens', from: 1_000, to: 700, reason: 'cut' }],
  upstream429s: [],
  reservations: [],
  reservationsInFlight: 0,
  reported: [],
};

const event = (at: number, kind: string): HistoryRestartEvent => ({ at, kind, workerPid: 7, exitCode: null, signal: null, cause: null, detail: null });

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
