-- PostgreSQL port of migrations/sqlite/009_restart_history_per_supervisor.sql: each host's
-- supervisors keep their own restart history, named by the address each listens on; rows from
-- before it name none and count for every supervisor of their host.
ALTER TABLE supervisor_events ADD COLUMN supervisor TEXT;
CREATE INDEX supervisor_events_by_supervisor ON supervisor_events (host, supervisor, id);
