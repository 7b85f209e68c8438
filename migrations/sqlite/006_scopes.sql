-- Scopes (issue 13 item 2): every limit is kept per scope, what one upstream limit applies to
-- (by default an API key's fingerprint × a model family). Today's single row becomes the scope
-- 'default', with its cooldown, backoff, budgets and usage as they are.

-- The secret the key fingerprints are keyed with (HMAC-SHA256), made once per database: a
-- fingerprint cannot be turned back into the key, and means nothing outside this database.
CREATE TABLE fingerprint_secret (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  secret TEXT NOT NULL
);
INSERT INTO fingerprint_secret (id, secret) VALUES (1, lower(hex(randomblob(32))));

CREATE TABLE limiter_state_by_scope (
  scope                     TEXT PRIMARY KEY,
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
  last_probe_success_at     INTEGER,
  refused_cooldown_total    INTEGER NOT NULL DEFAULT 0,
  refused_budget_total      INTEGER NOT NULL DEFAULT 0,
  created_at                INTEGER NOT NULL,
  updated_at                INTEGER NOT NULL
);
INSERT INTO limiter_state_by_scope
SELECT 'default', consecutive_429s, backoff_level, cooldown_started_at, cooldown_until, probe_request_id, probe_started_at,
       token_budget, request_budget, configured_token_budget, configured_request_budget, reported_token_limit,
       reported_request_limit, last_429_at, first_request_at, last_raise_at, last_window_sample_at, last_probe_success_at,
       refused_cooldown_total, refused_budget_total, updated_at, updated_at
FROM limiter_state;
DROP TABLE limiter_state;
ALTER TABLE limiter_state_by_scope RENAME TO limiter_state;
-- Which scopes are active (status, the tick): the most recently used first.
CREATE INDEX limiter_state_by_updated_at ON limiter_state (updated_at);

CREATE TABLE usage_buckets_by_scope (
  scope         TEXT NOT NULL,
  start         INTEGER NOT NULL,
  input_tokens  INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  requests      INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (scope, start)
) WITHOUT ROWID;
INSERT INTO usage_buckets_by_scope SELECT 'default', start, input_tokens, output_tokens, requests FROM usage_buckets;
DROP TABLE usage_buckets;
ALTER TABLE usage_buckets_by_scope RENAME TO usage_buckets;
CREATE INDEX usage_buckets_by_start ON usage_buckets (start, scope);

-- The daily window: per scope, one row per hour; the last 24 are summed against a daily budget.
CREATE TABLE daily_usage (
  scope         TEXT NOT NULL,
  hour_start    INTEGER NOT NULL,
  input_tokens  INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  requests      INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (scope, hour_start)
) WITHOUT ROWID;
CREATE INDEX daily_usage_by_hour ON daily_usage (hour_start);

CREATE TABLE reported_remaining_by_scope (
  scope          TEXT NOT NULL,
  dimension      TEXT NOT NULL CHECK (dimension IN ('tokens', 'input-tokens', 'output-tokens', 'requests')),
  limit_value    INTEGER,
  remaining      INTEGER NOT NULL,
  reset_at       INTEGER NOT NULL,
  seen_at        INTEGER NOT NULL,
  admitted_since INTEGER NOT NULL,
  rounding_slack INTEGER NOT NULL,
  PRIMARY KEY (scope, dimension)
) WITHOUT ROWID;
INSERT INTO reported_remaining_by_scope
SELECT 'default', dimension, limit_value, remaining, reset_at, seen_at, admitted_since, rounding_slack FROM reported_remaining;
DROP TABLE reported_remaining;
ALTER TABLE reported_remaining_by_scope RENAME TO reported_remaining;

ALTER TABLE requests ADD COLUMN scope TEXT NOT NULL DEFAULT 'default';
DROP INDEX requests_in_flight;
CREATE INDEX requests_in_flight ON requests (scope, admitted_at) WHERE outcome = 'in-flight';

ALTER TABLE rate_limit_events ADD COLUMN scope TEXT NOT NULL DEFAULT 'default';
CREATE INDEX rate_limit_events_by_scope ON rate_limit_events (scope, at);

ALTER TABLE calibration_samples ADD COLUMN scope TEXT NOT NULL DEFAULT 'default';
CREATE INDEX calibration_samples_by_scope ON calibration_samples (scope, kind, tokens);

ALTER TABLE budget_adjustments ADD COLUMN scope TEXT NOT NULL DEFAULT 'default';
CREATE INDEX budget_adjustments_by_scope ON budget_adjustments (scope, kind, id);
