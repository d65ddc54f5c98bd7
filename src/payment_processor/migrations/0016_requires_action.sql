-- 3-D Secure as a payment state. An issuer that wants its cardholder to authenticate answers the authorization
-- with "requires action": the payment becomes 'requires_action' carrying the acquirer's next_action (what the
-- merchant's front end does with the cardholder: a redirect, or Stripe.js's handleNextAction), and nothing has
-- moved. The merchant's POST /payments/{id}/confirm or the scheduled job then asks the acquirer where it stands
-- (the status query, under the same PaymentIntent): authenticated and authorized (succeeded or
-- requires_capture), failed authentication (declined), or never authenticated within the window (failed,
-- authentication_abandoned, after the acquirer canceled it). payment_processor/states.py holds the same table.
ALTER TABLE payments
    -- As the acquirer gave it (never written to the transaction log: a redirect URL may carry a client secret
    -- of the acquirer's); NULL outside requires_action.
    ADD COLUMN next_action jsonb CHECK (pg_column_size(next_action) <= 16384);

ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (status IN
    ('processing', 'requires_action', 'requires_capture', 'succeeded', 'declined', 'failed', 'canceled', 'refunded'));
ALTER TABLE payments ADD CONSTRAINT payments_next_action_matches_status
    CHECK ((status = 'requires_action') = (next_action IS NOT NULL));

CREATE OR REPLACE FUNCTION payments_refuse_forbidden_transition() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF (OLD.status, NEW.status) NOT IN (VALUES
        ('processing', 'succeeded'),
        ('processing', 'requires_capture'),
        ('processing', 'declined'),
        ('processing', 'failed'),
        ('processing', 'requires_action'),
        ('requires_action', 'succeeded'),
        ('requires_action', 'requires_capture'),
        ('requires_action', 'declined'),
        ('requires_action', 'failed'),
        ('requires_capture', 'succeeded'),
        ('requires_capture', 'canceled'),
        ('succeeded', 'refunded'))
    THEN
        RAISE EXCEPTION 'a payment in % cannot become %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_status_transition';
    END IF;
    RETURN NEW;
END
$$;

-- What the scheduled job scans for cardholders' answers: payments waiting for one, by when they are due.
CREATE INDEX payments_requires_action_due_idx ON payments (next_resolution_at) WHERE status = 'requires_action';

DO $$
BEGIN
    EXECUTE format('GRANT UPDATE (next_action) ON payments TO %I', current_database() || '_app');
END
$$;
