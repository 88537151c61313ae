-- What became of the Telegram alert about a signal's latest event (issue 16: a signal's path
-- ends with its alert): when the fan-out sent it, or why nothing was sent.
ALTER TABLE signals ADD COLUMN alerted_at_ms INTEGER;
ALTER TABLE signals ADD COLUMN alert TEXT;
