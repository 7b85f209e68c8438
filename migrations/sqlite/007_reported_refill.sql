-- How the upstream refills a reported limit (issue 11): 'bucket' (a token bucket, continuously
-- replenished: Anthropic documents its limits so) or 'window' (unknown, e.g. a sliding window).
-- Only a bucket's report replaces the local window budget; a window's is followed on top of it.
ALTER TABLE reported_remaining ADD COLUMN refill TEXT NOT NULL DEFAULT 'window' CHECK (refill IN ('bucket', 'window'));
