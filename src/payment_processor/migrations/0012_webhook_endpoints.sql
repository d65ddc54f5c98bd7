-- Webhook endpoints: where a merchant wants its events pushed (payment_processor.webhooks.endpoints).
--
-- The signing secret is kept only sealed by KMS (payment_processor.webhooks.secrets), bound to the endpoint's id
-- by the encryption context: never in plain text, here or in an idempotency key's stored answer. After a roll
-- the previous secret keeps signing until previous_secret_expires_at.
CREATE TABLE webhook_endpoints (
    id                          text PRIMARY KEY CHECK (id ~ '^we_[a-z2-7]{26}$'),
    merchant_id                 text NOT NULL CHECK (merchant_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    url                         text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    enabled_events              text[] NOT NULL CHECK (cardinality(enabled_events) BETWEEN 1 AND 64),
    description                 text CHECK (length(description) <= 500),
    status                      text NOT NULL CHECK (status IN ('enabled', 'disabled')),
    secret_sealed               bytea NOT NULL,
    previous_secret_sealed      bytea,
    previous_secret_expires_at  timestamptz,
    created_at                  timestamptz NOT NULL,
    updated_at                  timestamptz NOT NULL,
    CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL))
);

-- A merchant's endpoints newest first (the list's keyset order), and its count against the limit.
CREATE INDEX webhook_endpoints_merchant_idx ON webhook_endpoints (merchant_id, created_at, id);

DO $$
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO %I', current_database() || '_app');
END
$$;
