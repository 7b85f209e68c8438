-- Restart history per supervisor (issue 26): two supervisors on one database keep their own
-- crash counts, so one's crash loop cannot make the other give up. A supervisor is named by the
-- address it listens on (no two on one host can share it, and one restarted on the same address
-- continues its brakes). Rows written before this migration name none: they count for every
-- supervisor, and age out of the burst window by themselves. An operator's `cleared` clears all.
ALTER TABLE supervisor_events ADD COLUMN supervisor TEXT;
CREATE INDEX supervisor_events_by_supervisor ON supervisor_events (supervisor, id);
