-- PostgreSQL port of migrations/sqlite/008_limit_groups.sql: the learned key → organization
-- mapping (by fingerprint, never the key), and the quota stop of a group. Every existing scope
-- keeps its name and its state.
CREATE TABLE key_organizations (
  fingerprint  TEXT PRIMARY KEY,
  provider     TEXT NOT NULL CHECK (provider IN ('anthropic', 'openai')),
  organization TEXT NOT NULL,
  project      TEXT,
  -- The key's last 4 characters, as the providers' consoles show them: what an operator's
  -- key-aliases may name it by. Not enough to use or guess the key.
  key_hint     TEXT,
  learned_at   BIGINT NOT NULL
);

ALTER TABLE limiter_state ADD COLUMN quota_since BIGINT;
