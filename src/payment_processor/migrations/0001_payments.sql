-- Payments, idempotency keys and the transaction-log outbox.
-- Money is integer minor units plus an ISO 4217 code; the database refuses anything else.

CREATE TABLE payments (
    id                  text PRIMARY KEY CHECK (id ~ '^pay_[a-z2-7]{26}$'),
    merchant_id         text NOT NULL,
    amount              bigint NOT NULL CHECK (amount > 0),
    currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status              text NOT NULL CHECK (status IN ('succeeded', 'declined')),
    payment_method      text NOT NULL,
    created_at          timestamptz NOT NULL,
    decline_code        text,
    authorization_code  text,
    description         text,
    customer_id         text,
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    idempotency_key     text,
    -- A declined payment always says why; a successful one never carries a decline code.
    CONSTRAINT payments_decline_code_matches_status
        CHECK ((status = 'declined') = (decline_code IS NOT NULL))
);

CREATE INDEX payments_merchant_created_idx ON payments (merchant_id, created_at);

-- One row per (merchant, key). A row is inserted and completed in the same transaction as the
-- payment, so a committed row always holds the response to replay.
CREATE TABLE idempotency_keys (
    merchant_id          text NOT NULL,
    idempotency_key      text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_fingerprint  text NOT NULL,
    response_status      smallint,
    response_body        jsonb,
    payment_id           text REFERENCES payments (id),
    created_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, idempotency_key)
);

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Transaction-log events written with the payment and delivered to S3 after commit. object_key is
-- deterministic, so delivering an event twice writes the same object.
CREATE TABLE transaction_log_outbox (
    id            bigserial PRIMARY KEY,
    payment_id    text NOT NULL REFERENCES payments (id),
    event_type    text NOT NULL,
    object_key    text NOT NULL UNIQUE,
    body          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    delivered_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);

CREATE INDEX transaction_log_outbox_pending_idx
    ON transaction_log_outbox (id) WHERE delivered_at IS NULL;
