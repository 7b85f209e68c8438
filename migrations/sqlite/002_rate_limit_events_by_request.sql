-- Retention deletes old request rows, and each delete sets rate_limit_events.request_id to NULL
-- (ON DELETE SET NULL). Without this index every deleted request scanned the whole event table:
-- a tick pruning 5 000 requests against 20 000 events held the write lock for seconds.
CREATE INDEX rate_limit_events_by_request ON rate_limit_events (request_id);
