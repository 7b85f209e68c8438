-- The limiter's durable state: one row, read and written by every admit and settle.
CREATE TABLE limiter_state (
  id                        INTEGER PRIMARY KEY CHECK (id = 1),
  consecutive_429s          INTEGER NOT NULL DEFAULT 0,
  backoff_level             INTEGER NOT NULL DEFAULT 0,
  cooldown_started_at       INTEGER,
  cooldown_until            INTEGER,
  probe_request_id          INTEGER,
  probe_started_at          INTEGER,
  token_budget              INTEGER,
  request_budget            INTEGER,
  configured_token_budget   INTEGER,
  configured_request_budget INTEGER,
  reported_token_limit      INTEGER,
  reported_request_limit    INTEGER,
  last_429_at               INTEGER,
  first_request_at          INTEGER,
  last_raise_at             INTEGER,
  last_window_sample_at     INTEGER,
  refused_cooldown_total    INTEGER NOT NULL DEFAULT 0,
  refused_budget_total      INTEGER NOT NULL DEFAULT 0,
  updated_at                INTEGER NOT NULL
);
INSERT INTO limiter_state (id, updated_at) VALUES (1, 0);

-- The sliding window's aggregate: tokens and requests per time bucket (at most 1 s wide).
CREATE TABLE usage_buckets (
  start         INTEGER PRIMARY KEY,
  input_tokens  INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  requests      INTEGER NOT NULL DEFAULT 0
);

-- One row per forwarded request, pruned after the retention period. No headers, no query string.
CREATE TABLE requests (
  id                INTEGER PRIMARY KEY,
  admitted_at       INTEGER NOT NULL,
  bucket_start      INTEGER NOT NULL,
  settled_at        INTEGER,
  method            TEXT NOT NULL,
  path              TEXT NOT NULL,
  outcome           TEXT NOT NULL DEFAULT 'in-flight'
                    CHECK (outcome IN ('in-flight', 'ok', 'upstream-error', 'upstream-429', 'unreachable', 'timeout', 'aborted')),
  status            INTEGER,
  probe             INTEGER NOT NULL DEFAULT 0,
  est_input_tokens  INTEGER NOT NULL,
  est_output_tokens INTEGER NOT NULL,
  input_tokens      INTEGER,
  output_tokens     INTEGER,
  worker_pid        INTEGER
);
CREATE INDEX requests_by_admitted_at ON requests (admitted_at);

CREATE TABLE rate_limit_events (
  id               INTEGER PRIMARY KEY,
  at               INTEGER NOT NULL,
  request_id       INTEGER REFERENCES requests (id) ON DELETE SET NULL,
  retry_after_ms   INTEGER,
  consecutive_429s INTEGER NOT NULL,
  backoff_level    INTEGER NOT NULL,
  escalated        INTEGER NOT NULL,
  cooldown_ms      INTEGER NOT NULL,
  cooldown_until   INTEGER NOT NULL,
  window_tokens    INTEGER NOT NULL,
  window_requests  INTEGER NOT NULL
);
CREATE INDEX rate_limit_events_by_at ON rate_limit_events (at);

CREATE TABLE calibration_samples (
  id             INTEGER PRIMARY KEY,
  at             INTEGER NOT NULL,
  kind           TEXT NOT NULL CHECK (kind IN ('upstream-429', 'reported-limit', 'window')),
  tokens         INTEGER NOT NULL,
  requests       INTEGER NOT NULL,
  window_ms      INTEGER NOT NULL,
  retry_after_ms INTEGER,
  limit_tokens   INTEGER,
  limit_requests INTEGER
);
CREATE INDEX calibration_samples_by_kind ON calibration_samples (kind, at);

CREATE TABLE budget_adjustments (
  id         INTEGER PRIMARY KEY,
  at         INTEGER NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('tokens', 'requests')),
  from_value INTEGER,
  to_value   INTEGER,
  reason     TEXT NOT NULL,
  gates      TEXT,
  detail     TEXT NOT NULL
);

CREATE TABLE supervisor_events (
  id             INTEGER PRIMARY KEY,
  at             INTEGER NOT NULL,
  kind           TEXT NOT NULL,
  supervisor_pid INTEGER NOT NULL,
  worker_pid     INTEGER,
  exit_code      INTEGER,
  signal         TEXT,
  cause          TEXT,
  delay_ms       INTEGER,
  detail         TEXT
);
CREATE INDEX supervisor_events_by_at ON supervisor_events (at);

CREATE TABLE audit_log (
  id     INTEGER PRIMARY KEY,
  at     INTEGER NOT NULL,
  action TEXT NOT NULL,
  actor  TEXT NOT NULL,
  reason TEXT,
  detail TEXT NOT NULL
);

-- Liveness of the processes using this database, refreshed by their heartbeats.
CREATE TABLE processes (
  role         TEXT NOT NULL CHECK (role IN ('worker', 'supervisor')),
  pid          INTEGER NOT NULL,
  started_at   INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL,
  listen       TEXT,
  upstream     TEXT,
  PRIMARY KEY (role, pid)
);
