-- Which database this is: a random id made once, when the file is created (or first upgraded).
-- A marker file beside the database (<db>.identity) keeps the same id, so that a start can tell
-- "the database that was here is gone or was replaced" from "this is the first start".
CREATE TABLE store_identity (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  database_id TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);
INSERT INTO store_identity (id, database_id, created_at)
VALUES (1, lower(hex(randomblob(16))), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
