-- hoox dead letters, issue 12: what the store knew of a dead letter's key, and the sweep's rows.
--
-- Whether an order may exist at the exchange for the signal (its last attempt's outcome was
-- unknown, or the idempotency store had no record of the key): a replay looks the order up
-- before it may submit. Set from the store's `KeyStatus.in_doubt` when the row is recorded.
-- Rows from before this migration read 0 (their detail still carries the prose note).
ALTER TABLE dead_letters ADD COLUMN in_doubt INTEGER NOT NULL DEFAULT 0;

-- `status` gains 'ended' (a dead letter recorded after its key had already ended: nothing to
-- replay) and `queue` gains 'sweep' (keys the dlq worker's sweep found stuck in the store); both
-- are plain TEXT, so no change is needed for them. The sweep re-sends its unalerted rows' alert.
CREATE INDEX IF NOT EXISTS dead_letters_queue_alerted ON dead_letters (queue, alerted_at_ms);
