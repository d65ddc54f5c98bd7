-- Delivery that always makes progress: each event waits for its own next attempt (exponential backoff)
-- instead of blocking the ones behind it, and after too many attempts it is set aside (dead-lettered),
-- counted and alarmed on, never retried blindly forever.
ALTER TABLE transaction_log_outbox
    ADD COLUMN next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN dead_lettered_at timestamptz;

DROP INDEX transaction_log_outbox_pending_idx;
CREATE INDEX transaction_log_outbox_due_idx
    ON transaction_log_outbox (next_attempt_at, id) WHERE delivered_at IS NULL AND dead_lettered_at IS NULL;
