/** The documented exit codes (README, "Exit codes"). */
export const exitCodes = {
  ok: 0,
  /** Something failed while running. */
  failure: 1,
  /** A usage or configuration mistake: a bad flag, key, value or combination. */
  usage: 2,
  /** The database cannot be used: missing, not a database, corrupt, read-only, or too new. */
  database: 3,
  /** The supervisor gave up: too many worker failures within the start-limit interval. */
  gaveUp: 4,
} as const;
