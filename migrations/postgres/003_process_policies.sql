-- PostgreSQL port of migrations/003_process_policies.sql, plus the host column that a server
-- shared by several hosts needs: a pid names a process only on its own host, and the
-- supervisor's history is about this host's worker. So processes, process_policies and
-- supervisor_events name the host that wrote each row (the --db option's host, default the
-- machine's hostname), and the primary keys that hold a pid hold the host too.
CREATE TABLE process_policies (
  role       TEXT NOT NULL CHECK (role IN ('worker', 'supervisor')),
  pid        INTEGER NOT NULL,
  written_at BIGINT NOT NULL,
  policy     TEXT NOT NULL CHECK (jsonb_typeof(policy::jsonb) = 'object'),
  host       TEXT NOT NULL,
  PRIMARY KEY (host, role, pid)
);

-- Rows written before this migration (none: no release ran on PostgreSQL before it) get ''.
ALTER TABLE processes ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE processes ALTER COLUMN host DROP DEFAULT;
ALTER TABLE processes DROP CONSTRAINT processes_pkey;
ALTER TABLE processes ADD PRIMARY KEY (host, role, pid);

ALTER TABLE supervisor_events ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE supervisor_events ALTER COLUMN host DROP DEFAULT;
-- Each host's supervisor reads only its own history, newest first.
CREATE INDEX supervisor_events_by_host ON supervisor_events (host, id);
