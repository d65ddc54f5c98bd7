-- Each merchant's acquirers, in the order they are tried (priority 1 first), written by the admin function
-- (payments connectors set/remove) and read by the processor (payment_processor.connectors.directory).
-- A connector's credentials are not here: they are in Secrets Manager, one secret per merchant connector,
-- named by secret_name; this table holds no secret.
CREATE TABLE merchant_connectors (
    merchant_id  text NOT NULL CHECK (merchant_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    connector    text NOT NULL CHECK (connector IN ('stripe', 'simulated')),
    priority     integer NOT NULL CHECK (priority BETWEEN 1 AND 100),
    endpoint     text CHECK (length(endpoint) <= 2048),
    secret_name  text CHECK (length(secret_name) <= 512),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, connector),
    -- Two connectors of one merchant at the same priority would be tried in no defined order.
    UNIQUE (merchant_id, priority),
    CHECK ((connector = 'stripe') = (secret_name IS NOT NULL))
);

DO $$
DECLARE
    app text := current_database() || '_app';
BEGIN
    EXECUTE format('GRANT SELECT ON merchant_connectors TO %I', app);
END
$$;
