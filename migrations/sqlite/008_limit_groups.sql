-- Limit groups (issue 21): the upstreams apply their limits per organization × model group and
-- name a key's organization on every answer. What was learned is kept here, by the key's
-- fingerprint (never the key). Every existing scope keeps its name and its state (cooldowns
-- included): a key whose organization is not known yet is still its own group, named as before,
-- and its scope's usage joins the organization's group when the organization is learned.
CREATE TABLE key_organizations (
  fingerprint  TEXT PRIMARY KEY,
  provider     TEXT NOT NULL CHECK (provider IN ('anthropic', 'openai')),
  organization TEXT NOT NULL,
  project      TEXT,
  -- The key's last 4 characters, as the providers' consoles show them: what an operator's
  -- key-aliases may name it by. Not enough to use or guess the key.
  key_hint     TEXT,
  learned_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- A quota 429 (insufficient_quota, a spend limit) stops a group until a rare probe succeeds:
-- when it began, null while none is in force. Never a cut of the rate budget.
ALTER TABLE limiter_state ADD COLUMN quota_since INTEGER;
