-- What each request was charged for output against the limits the upstream reports (issue 19):
-- Anthropic holds max_tokens of its output bucket while a request runs, while the local window
-- reserves the learned estimate (est_output_tokens). NULL, for rows from before: the same as
-- est_output_tokens.
ALTER TABLE requests ADD COLUMN charge_output_tokens INTEGER;

-- When the request's response head arrived (the store's time): from then on the upstream has
-- charged it, so a report carried by a request sent after that already counts it.
ALTER TABLE requests ADD COLUMN head_at INTEGER;
