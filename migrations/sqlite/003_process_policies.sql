-- The policy each process runs with (the worker's limiter policy, the supervisor's restart
-- policy), written when it starts, so that status and calibrate show and use the running
-- proxy's settings rather than their own defaults. One JSON document per process: a policy field
-- added later flows through without another migration.
CREATE TABLE process_policies (
  role       TEXT NOT NULL CHECK (role IN ('worker', 'supervisor')),
  pid        INTEGER NOT NULL,
  written_at INTEGER NOT NULL,
  policy     TEXT NOT NULL CHECK (json_valid(policy) AND json_type(policy) = 'object'),
  PRIMARY KEY (role, pid)
);
