-- PostgreSQL port of migrations/sqlite/010_process_queue.sql: each worker's admission queue as
-- JSON, written with its heartbeat, for status.
ALTER TABLE processes ADD COLUMN queue TEXT CHECK (queue IS NULL OR jsonb_typeof(queue::jsonb) = 'object');
