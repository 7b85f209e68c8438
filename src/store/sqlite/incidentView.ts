import { LimiterStore } from './limiterStore.js';
import { openDatabase } from './open.js';

export interface CooldownRecord {
  /** When the upstream 429 was recorded. */
  at: number;
  /** The cooldown's end as that 429 set it. */
  until: number;
}

export interface TokenBudgetChange {
  at: number;
  to: number | null;
  reason: string;
}

/** What one database says a proxy did: the demo's replay reads it once the processes are gone. */
export interface IncidentRecords {
  /** When each forwarded request was admitted. */
  admissions: number[];
  cooldowns: CooldownRecord[];
  budgetChanges: TokenBudgetChange[];
  zeroTokenSamples: number;
}

/** Read-only: the admissions, cooldowns, token-budget changes and zero-token samples on record. */
export function readIncidentRecords(path: string): IncidentRecords {
  const db = openDatabase(path, { readonly: true });
  try {
    return db
      .transaction((): IncidentRecords => ({
        admissions: db
          .prepare<[], { admitted_at: number }>('SELECT admitted_at FROM requests ORDER BY admitted_at')
          .all()
          .map((row) => row.admitted_at),
        cooldowns: db
          .prepare<[], { at: number; cooldown_until: number }>('SELECT at, cooldown_until FROM rate_limit_events ORDER BY at, id')
          .all()
          .map((row) => ({ at: row.at, until: row.cooldown_until })),
        budgetChanges: db
          .prepare<[], { at: number; to_value: number | null; reason: string }>(
            "SELECT at, to_value, reason FROM budget_adjustments WHERE kind = 'tokens' ORDER BY at, id",
          )
          .all()
          .map((row) => ({ at: row.at, to: row.to_value, reason: row.reason })),
        zeroTokenSamples: new LimiterStore(db).countZeroTokenSamples(),
      }))
      .deferred();
  } finally {
    db.close();
  }
}
