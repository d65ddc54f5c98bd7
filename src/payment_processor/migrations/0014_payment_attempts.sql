-- Every time a payment's authorization is sent to an acquirer, recorded before it is sent
-- (payment_processor.operations.create; shown on GET /payments/{id} as attempts, oldest first).
--
-- outcome is NULL while the attempt is out (or its process died with it: the API shows that as unknown);
-- reference is the acquirer's id for what the attempt made (a Stripe PaymentIntent), written before any money
-- can move, so the attempt asked again finds it instead of charging again; a later attempt at the same
-- connector starts from it.
CREATE TABLE payment_attempts (
    -- att_…, made by the processor (known without asking the database: no attempt waits for its id).
    id            text PRIMARY KEY CHECK (id ~ '^att_[a-z2-7]{26}$'),
    payment_id    text NOT NULL REFERENCES payments (id) ON DELETE CASCADE,
    merchant_id   text NOT NULL,
    connector     text NOT NULL CHECK (connector ~ '^[a-z][a-z0-9_]{0,31}$'),
    reference     text CHECK (length(reference) <= 255),
    outcome       text CHECK (outcome IN ('approved', 'declined', 'requires_action', 'refused', 'unknown')),
    decline_code  text CHECK (length(decline_code) <= 64),
    latency_ms    integer CHECK (latency_ms >= 0),
    -- clock_timestamp(): attempts of one payment are shown in the order they were made, within a transaction too.
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    answered_at   timestamptz,
    CHECK ((outcome IS NULL) = (answered_at IS NULL)),
    CHECK (decline_code IS NULL OR outcome = 'declined')
);
-- One reference per payment and connector: two tries racing at one acquirer go on with the intent remembered
-- first, so an acquirer that ignores idempotency keys still confirms one (store.postgres.remember_reference).
CREATE INDEX payment_attempts_payment_idx ON payment_attempts (payment_id, created_at, id);
CREATE UNIQUE INDEX payment_attempts_one_reference_idx ON payment_attempts (payment_id, connector)
    WHERE reference IS NOT NULL;

DO $$
DECLARE
    app text := current_database() || '_app';
BEGIN
    EXECUTE format('GRANT SELECT, INSERT ON payment_attempts TO %I', app);
    EXECUTE format('GRANT UPDATE (reference, outcome, decline_code, latency_ms, answered_at) ON payment_attempts TO %I', app);
END
$$;
