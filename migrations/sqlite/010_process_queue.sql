-- What each worker's admission queue holds, written with its heartbeat, so that status (a
-- separate process) can show who waits and for how long: JSON {length, oldestWaitMs, scopes:
-- [{scope, length, oldestWaitMs}]}, the waits as measured at heartbeat_at. NULL: nothing written.
ALTER TABLE processes ADD COLUMN queue TEXT CHECK (queue IS NULL OR json_valid(queue));
