-- PostgreSQL port of migrations/006_scopes.sql: every limit is kept per scope. The single row of
-- before becomes the scope 'default', with its cooldown, backoff, budgets, usage and reports.
-- Tables are recreated (not altered) so that their columns are in the order SQLite's are.

-- The secret the key fingerprints are keyed with (HMAC-SHA256): 64 hex digits from two
-- gen_random_uuid() (244 random bits from the server's strong random source).
CREATE TABLE fingerprint_secret (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  secret TEXT NOT NULL
);
INSERT INTO fingerprint_secret (id, secret)
VALUES (1, replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''));

CREATE TABLE limiter_state_by_scope (
  scope                     TEXT PRIMARY KEY,
  consecutive_429s          INTEGER NOT NULL DEFAULT 0,
  backoff_level             INTEGER NOT NULL DEFAULT 0,
  cooldown_started_at       BIGINT,
  cooldown_until            BIGINT,
  probe_request_id          BIGINT,
  probe_started_at          BIGINT,
  token_budget              BIGINT,
  request_budget            BIGINT,
  configured_token_budget   BIGINT,
  configured_request_budget BIGINT,
  reported_token_limit      BIGINT,
  reported_request_limit    BIGINT,
  last_429_at               BIGINT,
  first_request_at          BIGINT,
  last_raise_at             BIGINT,
  last_window_sample_at     BIGINT,
  last_probe_success_at     BIGINT,
  refused_cooldown_total    BIGINT NOT NULL DEFAULT 0,
  refused_budget_total      BIGINT NOT NULL DEFAULT 0,
  created_at                BIGINT NOT NULL,
  updated_at                BIGINT NOT NULL
);
INSERT INTO limiter_state_by_scope
SELECT 'default', consecutive_429s, backoff_level, cooldown_started_at, cooldown_until, probe_request_id, probe_started_at,
       token_budget, request_budget, configured_token_budget, configured_request_budget, reported_token_limit,
       reported_request_limit, last_429_at, first_request_at, last_raise_at, last_window_sample_at, last_probe_success_at,
       refused_cooldown_total, refused_budget_total, updated_at, updated_at
FROM limiter_state;
DROP TABLE limiter_state;
ALTER TABLE limiter_state_by_scope RENAME TO limiter_state;
ALTER INDEX limiter_state_by_scope_pkey RENAME TO limiter_state_pkey;
CREATE INDEX limiter_state_by_updated_at ON limiter_state (updated_at);

CREATE TABLE usage_buckets_by_scope (
  scope         TEXT NOT NULL,
  start         BIGINT NOT NULL,
  input_tokens  BIGINT NOT NULL DEFAULT 0,
  output_tokens BIGINT NOT NULL DEFAULT 0,
  requests      BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (scope, start)
);
INSERT INTO usage_buckets_by_scope SELECT 'default', start, input_tokens, output_tokens, requests FROM usage_buckets;
DROP TABLE usage_buckets;
ALTER TABLE usage_buckets_by_scope RENAME TO usage_buckets;
ALTER INDEX usage_buckets_by_scope_pkey RENAME TO usage_buckets_pkey;
CREATE INDEX usage_buckets_by_start ON usage_buckets (start, scope);

CREATE TABLE daily_usage (
  scope         TEXT NOT NULL,
  hour_start    BIGINT NOT NULL,
  input_tokens  BIGINT NOT NULL DEFAULT 0,
  output_tokens BIGINT NOT NULL DEFAULT 0,
  requests      BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (scope, hour_start)
);
CREATE INDEX daily_usage_by_hour ON daily_usage (hour_start);

CREATE TABLE reported_remaining_by_scope (
  scope          TEXT NOT NULL,
  dimension      TEXT NOT NULL CHECK (dimension IN ('tokens', 'input-tokens', 'output-tokens', 'requests')),
  limit_value    BIGINT,
  remaining      BIGINT NOT NULL,
  reset_at       BIGINT NOT NULL,
  seen_at        BIGINT NOT NULL,
  admitted_since BIGINT NOT NULL,
  rounding_slack BIGINT NOT NULL,
  PRIMARY KEY (scope, dimension)
);
INSERT INTO reported_remaining_by_scope
SELECT 'default', dimension, limit_value, remaining, reset_at, seen_at, admitted_since, rounding_slack FROM reported_remaining;
DROP TABLE reported_remaining;
ALTER TABLE reported_remaining_by_scope RENAME TO reported_remaining;
ALTER INDEX reported_remaining_by_scope_pkey RENAME TO reported_remaining_pkey;

ALTER TABLE requests ADD COLUMN scope TEXT NOT NULL DEFAULT 'default';
DROP INDEX requests_in_flight;
CREATE INDEX requests_in_flight ON requests (scope, admitted_at) WHERE outcome = 'in-flight';

ALTER TABLE rate_limit_events ADD COLUMN scope TEXT NOT NULL DEFAULT 'default';
CREATE INDEX rate_limit_events_by_scope ON rate_limit_events (scope, at);

ALTER TABLE calibration_samples ADD COLUMN scope TEXT NOT NULL DEFAULT 'default';
CREATE INDEX calibration_samples_by_scope ON calibration_samples (scope, kind, tokens);

ALTER TABLE budget_adjustments ADD COLUMN scope TEXT NOT NULL DEFAULT 'default';
CREATE INDEX budget_adjustments_by_scope ON budget_adjustments (scope, kind, id);
