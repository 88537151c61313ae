-- hoox operations: dead-letter handling (replay / discard), alert bookkeeping, and the audit log.
--
-- Positions are not a table: they are derived from filled orders (`ops::positions`), which the
-- ledger upserts by client order id, so a replayed or redelivered event can never count twice.

-- Who ended a dead letter, when, and how (the discard reason or the replay note).
ALTER TABLE dead_letters ADD COLUMN resolved_at_ms INTEGER;
ALTER TABLE dead_letters ADD COLUMN resolved_by TEXT;
ALTER TABLE dead_letters ADD COLUMN resolution TEXT;
-- How many times it was sent back to trade-execution.
ALTER TABLE dead_letters ADD COLUMN replays INTEGER NOT NULL DEFAULT 0;
-- Set once the Telegram alert for it went out, so each dead letter alerts once.
ALTER TABLE dead_letters ADD COLUMN alerted_at_ms INTEGER;

CREATE INDEX IF NOT EXISTS dead_letters_status ON dead_letters (status, id);
CREATE INDEX IF NOT EXISTS dead_letters_symbol ON dead_letters (symbol, id);
CREATE INDEX IF NOT EXISTS dead_letters_created ON dead_letters (created_at_ms);

-- Every operator action, append-only: dead-letter replays and discards, config changes (the kill
-- switch included, from the CLI or Telegram).
CREATE TABLE IF NOT EXISTS audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL,
  request_id TEXT
);
CREATE INDEX IF NOT EXISTS audit_log_target ON audit_log (target, id);
CREATE INDEX IF NOT EXISTS audit_log_action ON audit_log (action, id);
