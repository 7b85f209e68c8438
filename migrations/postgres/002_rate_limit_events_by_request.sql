-- PostgreSQL port of migrations/002_rate_limit_events_by_request.sql.
-- Retention deletes old request rows, and each delete sets rate_limit_events.request_id to NULL
-- (ON DELETE SET NULL). Without this index every deleted request scans the whole event table.
CREATE INDEX rate_limit_events_by_request ON rate_limit_events (request_id);
