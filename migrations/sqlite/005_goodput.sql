-- Goodput (issue 11): admission follows what the upstream reports is left, recovery counts from
-- the probe that closed a cooldown, and the output reservation is learned per model.

ALTER TABLE limiter_state ADD COLUMN last_probe_success_at INTEGER;

-- The upstream's last report per limit: remaining, when it is full again, when it was seen, and
-- what ratewarden reserved since (in flight then, admitted after). One row per dimension.
CREATE TABLE reported_remaining (
  dimension      TEXT PRIMARY KEY CHECK (dimension IN ('tokens', 'input-tokens', 'output-tokens', 'requests')),
  limit_value    INTEGER,
  remaining      INTEGER NOT NULL,
  reset_at       INTEGER NOT NULL,
  seen_at        INTEGER NOT NULL,
  admitted_since INTEGER NOT NULL,
  rounding_slack INTEGER NOT NULL
);

-- The model a request named, for the output samples it leaves when it settles.
ALTER TABLE requests ADD COLUMN model TEXT;

-- What requests really generated, per model, when their usage was read: the learned reservation.
CREATE TABLE output_samples (
  id            INTEGER PRIMARY KEY,
  at            INTEGER NOT NULL,
  model         TEXT NOT NULL,
  output_tokens INTEGER NOT NULL CHECK (output_tokens > 0)
);
CREATE INDEX output_samples_by_model ON output_samples (model, id);
CREATE INDEX output_samples_by_at ON output_samples (at);

-- The reservations of requests in flight, summed whenever a report is adopted; kept small by the predicate.
CREATE INDEX requests_in_flight ON requests (admitted_at) WHERE outcome = 'in-flight';
