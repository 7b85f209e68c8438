-- PostgreSQL port of migrations/007_reported_refill.sql: how the upstream refills a reported
-- limit, 'bucket' (a token bucket, continuously replenished) or 'window' (anything else). Only a
-- bucket's report replaces the local window budget; a window's is followed on top of it.
ALTER TABLE reported_remaining ADD COLUMN refill TEXT NOT NULL DEFAULT 'window' CHECK (refill IN ('bucket', 'window'));
