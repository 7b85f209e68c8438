-- PostgreSQL port of migrations/004_store_identity.sql: the database's random id, made once.
-- gen_random_uuid() (built in since PostgreSQL 13) is 122 random bits from the server's strong
-- random source; its 32 hex digits are the id. On PostgreSQL there is no marker file beside the
-- database: the id is there for operators and for tools that tell two databases apart.
CREATE TABLE store_identity (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  database_id TEXT NOT NULL,
  created_at  BIGINT NOT NULL
);
INSERT INTO store_identity (id, database_id, created_at)
VALUES (1, replace(gen_random_uuid()::text, '-', ''), floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint);
