-- Webhook deliveries: each event for each endpoint subscribed to it, and every attempt made
-- (payment_processor.webhooks.deliveries says how a delivery moves; payment_processor.webhooks.dispatcher how
-- attempts leave and come back).
--
-- A delivery row is written by the same statement that writes its event (store.webhook_deliveries.FAN_OUT), so
-- an event is never without the deliveries it owes. An attempt is recorded before it is sent: the dispatcher
-- stamps dispatched_attempt and a lease; an attempt whose result never comes back (a sender killed mid-flight)
-- is sent again when the lease ends. A result is applied once: the first for an attempt number wins.
CREATE TABLE webhook_deliveries (
    id                  bigserial PRIMARY KEY,
    event_id            text NOT NULL,
    endpoint_id         text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    merchant_id         text NOT NULL,
    -- A redelivery the merchant asked for (POST /events/{id}/redeliver) is a delivery of its own, tried once.
    manual              boolean NOT NULL DEFAULT false,
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'retrying', 'succeeded', 'abandoned')),
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at     timestamptz DEFAULT now(),
    dispatched_attempt  integer,
    dispatched_at       timestamptz,
    leased_until        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((next_attempt_at IS NULL) = (status IN ('succeeded', 'abandoned')))
);
CREATE UNIQUE INDEX webhook_deliveries_once_idx ON webhook_deliveries (event_id, endpoint_id) WHERE NOT manual;
-- One redelivery of an event to an endpoint queued at a time: asking again while it waits queues no other.
CREATE UNIQUE INDEX webhook_deliveries_redelivery_idx ON webhook_deliveries (event_id, endpoint_id)
    WHERE manual AND status IN ('pending', 'retrying');
-- What the dispatcher takes next: due deliveries, soonest first.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id);

CREATE TABLE webhook_attempts (
    id               bigserial PRIMARY KEY,
    delivery_id      bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    endpoint_id      text NOT NULL,
    event_id         text NOT NULL,
    attempt          integer NOT NULL CHECK (attempt >= 1),
    attempted_at     timestamptz NOT NULL,
    status_code      integer CHECK (status_code BETWEEN 100 AND 999),
    error            text CHECK (error IN ('timeout', 'connection_failed', 'tls', 'redirect', 'refused_address',
                                           'invalid_response')),
    latency_ms       integer NOT NULL CHECK (latency_ms >= 0),
    next_attempt_at  timestamptz,
    -- The start of the receiver's answer, redacted by the sender (webhooks.sender._excerpt): operators only.
    excerpt          text NOT NULL DEFAULT '' CHECK (length(excerpt) <= 200),
    UNIQUE (delivery_id, attempt)
);
-- GET /webhook_endpoints/{id}/deliveries: an endpoint's attempts, newest first.
CREATE INDEX webhook_attempts_endpoint_idx ON webhook_attempts (endpoint_id, attempted_at DESC, id DESC);

-- Since when every attempt to an endpoint has failed (NULL: its last answer was a success), and why the sender
-- disabled it (NULL when enabled, or disabled by the merchant).
ALTER TABLE webhook_endpoints
    ADD COLUMN failing_since   timestamptz,
    ADD COLUMN disabled_reason text CHECK (disabled_reason IN ('gone', 'failing'));

-- webhook_endpoint.disabled is an event of the merchant's, not of a payment: it has no payment.
ALTER TABLE transaction_log_outbox ALTER COLUMN payment_id DROP NOT NULL;

DO $$
DECLARE
    app text := current_database() || '_app';
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON webhook_deliveries TO %I', app);
    EXECUTE format('GRANT USAGE ON SEQUENCE webhook_deliveries_id_seq TO %I', app);
    EXECUTE format('GRANT SELECT, INSERT ON webhook_attempts TO %I', app);
    EXECUTE format('GRANT USAGE ON SEQUENCE webhook_attempts_id_seq TO %I', app);
END
$$;
