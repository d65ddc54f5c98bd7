-- The merchant API: authorize now and capture later (or cancel), refunds, listing, and a feed of events.
--
-- payments: how the payment is captured, what was captured and refunded (integer minor units, never more
-- than authorized / captured), why it was canceled, and the number of its last transaction-log event.
ALTER TABLE payments
    ADD COLUMN capture_method      text NOT NULL DEFAULT 'automatic' CHECK (capture_method IN ('automatic', 'manual')),
    ADD COLUMN amount_captured     bigint NOT NULL DEFAULT 0,
    ADD COLUMN amount_refunded     bigint NOT NULL DEFAULT 0,
    ADD COLUMN cancellation_reason text CHECK (cancellation_reason IN
        ('requested_by_customer', 'duplicate', 'fraudulent', 'abandoned', 'automatic')),
    ADD COLUMN event_sequence      integer NOT NULL DEFAULT 0 CHECK (event_sequence >= 0);

UPDATE payments SET amount_captured = amount WHERE status = 'succeeded';
-- One pass over the outbox (grouped), not one scan of it per payment: the outbox has no payment_id index.
UPDATE payments p SET event_sequence = o.events
  FROM (SELECT payment_id, count(*) AS events FROM transaction_log_outbox GROUP BY payment_id) AS o
 WHERE o.payment_id = p.id;

ALTER TABLE payments ADD CONSTRAINT payments_captured_within_authorized
    CHECK (amount_captured >= 0 AND amount_captured <= amount);
ALTER TABLE payments ADD CONSTRAINT payments_refunded_within_captured
    CHECK (amount_refunded >= 0 AND amount_refunded <= amount_captured);
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (status IN
    ('processing', 'requires_capture', 'succeeded', 'declined', 'failed', 'canceled', 'refunded'));
-- Money moved exactly in the states that say so; an authorization code in every state that had one.
ALTER TABLE payments ADD CONSTRAINT payments_captured_matches_status
    CHECK ((status IN ('succeeded', 'refunded')) = (amount_captured > 0));
ALTER TABLE payments ADD CONSTRAINT payments_refunded_matches_status
    CHECK (status <> 'refunded' OR amount_refunded = amount_captured);
ALTER TABLE payments ADD CONSTRAINT payments_cancellation_matches_status
    CHECK ((status = 'canceled') = (cancellation_reason IS NOT NULL));
ALTER TABLE payments DROP CONSTRAINT payments_authorization_code_matches_status;
ALTER TABLE payments ADD CONSTRAINT payments_authorization_code_matches_status
    CHECK ((status IN ('requires_capture', 'succeeded', 'canceled', 'refunded')) = (authorization_code IS NOT NULL));

-- Listing walks (merchant, created_at, id) newest first; the id breaks ties so a cursor is exact.
CREATE INDEX payments_merchant_created_id_idx ON payments (merchant_id, created_at DESC, id DESC);
DROP INDEX payments_merchant_created_idx;
-- Authorizations the scheduled job cancels once they are 7 days old.
CREATE INDEX payments_requires_capture_idx ON payments (updated_at) WHERE status = 'requires_capture';

-- A capture or cancel asked of the acquirer, recorded before it is asked (one at a time per payment: the
-- primary key), and deleted in the transaction that records the acquirer's answer. A crash in between leaves
-- the row for the same Idempotency-Key or the scheduled job, which ask again under the same acquirer key.
CREATE TABLE payment_actions (
    payment_id          text PRIMARY KEY REFERENCES payments (id),
    -- Each action its own acquirer idempotency key: a capture refused and then asked again for another
    -- amount is a new request, not a replay of the refusal.
    id                  text NOT NULL UNIQUE CHECK (id ~ '^act_[a-z2-7]{26}$'),
    action              text NOT NULL CHECK (action IN ('capture', 'cancel')),
    amount              bigint CHECK (amount > 0),
    cancellation_reason text CHECK (cancellation_reason IN
        ('requested_by_customer', 'duplicate', 'fraudulent', 'abandoned', 'automatic')),
    merchant_id         text NOT NULL,
    idempotency_key     text,
    requested_at        timestamptz NOT NULL,
    acquirer_attempts   integer NOT NULL DEFAULT 0 CHECK (acquirer_attempts >= 0),
    next_resolution_at  timestamptz NOT NULL,
    CHECK ((action = 'capture') = (amount IS NOT NULL)),
    CHECK ((action = 'cancel') = (cancellation_reason IS NOT NULL))
);

-- Refunds: recorded as pending before the acquirer is asked (with the refund id as its key), then
-- succeeded or failed once. The payment's row lock serializes refunds of one payment, so pending and
-- succeeded refunds together never pass the captured amount.
CREATE TABLE refunds (
    id                  text PRIMARY KEY CHECK (id ~ '^re_[a-z2-7]{26}$'),
    payment_id          text NOT NULL REFERENCES payments (id),
    merchant_id         text NOT NULL,
    amount              bigint NOT NULL CHECK (amount > 0),
    currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status              text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    reason              text CHECK (reason IN ('duplicate', 'fraudulent', 'requested_by_customer')),
    failure_code        text,
    idempotency_key     text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    acquirer_attempts   integer NOT NULL DEFAULT 0 CHECK (acquirer_attempts >= 0),
    next_resolution_at  timestamptz,
    CONSTRAINT refunds_failure_code_matches_status CHECK ((status = 'failed') = (failure_code IS NOT NULL))
);
CREATE INDEX refunds_payment_idx ON refunds (payment_id, created_at DESC, id DESC);
CREATE INDEX refunds_pending_due_idx ON refunds (next_resolution_at) WHERE status = 'pending';

-- A retried refund finds the refund its key created.
ALTER TABLE idempotency_keys ADD COLUMN refund_id text REFERENCES refunds (id);

-- The events feed reads the transaction log's outbox: each event's merchant and public id, and the id of
-- the transaction that wrote it. The feed lists only events of transactions older than every transaction
-- still running (pg_snapshot_xmin), ordered by that id: an event that commits late can never appear
-- behind a cursor a client has already passed, so a feed walked with cursors never skips one.
-- Within one payment the events' own numbers (the event id's suffix) give their order: a transaction takes
-- its id at its first write, not at commit, so two transactions of one payment can list the other way round.
-- The columns are added without defaults (no table rewrite), filled in the one pass that touches every row,
-- and only then given the default new rows take.
ALTER TABLE transaction_log_outbox
    ADD COLUMN merchant_id text,
    ADD COLUMN event_id    text,
    ADD COLUMN txid        xid8;
UPDATE transaction_log_outbox o
   SET merchant_id = p.merchant_id, event_id = o.body::json ->> 'event_id', txid = pg_current_xact_id()
  FROM payments p WHERE p.id = o.payment_id;
ALTER TABLE transaction_log_outbox
    ALTER COLUMN merchant_id SET NOT NULL,
    ALTER COLUMN event_id SET NOT NULL,
    ALTER COLUMN txid SET DEFAULT pg_current_xact_id(),
    ALTER COLUMN txid SET NOT NULL,
    ADD CONSTRAINT transaction_log_outbox_event_id_key UNIQUE (event_id);
CREATE INDEX transaction_log_outbox_feed_idx ON transaction_log_outbox (merchant_id, txid DESC, id DESC);

-- The processor's role: exactly the new columns a state change writes, and the new tables' statements.
DO $$
DECLARE
    app text := current_database() || '_app';
BEGIN
    EXECUTE format('GRANT UPDATE (amount_captured, amount_refunded, cancellation_reason, event_sequence) '
                   'ON payments TO %I', app);
    EXECUTE format('GRANT SELECT, INSERT, DELETE ON payment_actions TO %I', app);
    EXECUTE format('GRANT UPDATE (acquirer_attempts, next_resolution_at) ON payment_actions TO %I', app);
    EXECUTE format('GRANT SELECT, INSERT ON refunds TO %I', app);
    EXECUTE format('GRANT UPDATE (status, failure_code, updated_at, acquirer_attempts, next_resolution_at) '
                   'ON refunds TO %I', app);
END
$$;
