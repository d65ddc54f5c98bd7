-- A durable record before any side effect. A payment is written as 'processing' and committed with its
-- idempotency claim before the acquirer is called (with the payment id as the acquirer's idempotency
-- key); a second transaction moves it to 'succeeded', 'declined' or 'failed'. A payment left in
-- 'processing' by a crash is resolved by the next request with the same key or by the scheduled job,
-- which ask the acquirer again under the same key: never a charge without a record, never two per key.
ALTER TABLE payments
    ADD COLUMN failure_code       text,
    ADD COLUMN updated_at         timestamptz,
    -- Times the acquirer could not be reached for this payment, and when the scheduled job may try again.
    ADD COLUMN acquirer_attempts  integer NOT NULL DEFAULT 0 CHECK (acquirer_attempts >= 0),
    ADD COLUMN next_resolution_at timestamptz;

UPDATE payments SET updated_at = created_at;
ALTER TABLE payments ALTER COLUMN updated_at SET NOT NULL;

ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('processing', 'succeeded', 'declined', 'failed'));
-- Each final state carries exactly its own code; a payment still processing carries none.
ALTER TABLE payments ADD CONSTRAINT payments_failure_code_matches_status
    CHECK ((status = 'failed') = (failure_code IS NOT NULL));
ALTER TABLE payments ADD CONSTRAINT payments_authorization_code_matches_status
    CHECK ((status = 'succeeded') = (authorization_code IS NOT NULL));

-- What the scheduled job scans: payments still processing, by when they are due.
CREATE INDEX payments_processing_due_idx ON payments (next_resolution_at) WHERE status = 'processing';

-- The processor now moves a payment between states: it may update exactly the columns a state change
-- writes, never the amount, currency, merchant or who created it.
DO $$
BEGIN
    EXECUTE format(
        'GRANT UPDATE (status, decline_code, authorization_code, failure_code, updated_at, acquirer_attempts, '
        'next_resolution_at) ON payments TO %I',
        current_database() || '_app'
    );
END
$$;
