-- API keys, and the least-privilege database roles the functions connect as.
--
-- Migrations run as the admin (RDS master) user from the admin function; the functions never do.
-- Two roles, created here without a login; the admin function's setup gives each a generated
-- password that it writes only to the role's Secrets Manager secret (never to Terraform state):
--   <database>_app   the processor and the delivery job: read and write the payment tables, nothing else;
--   <database>_auth  the API authorizer: read api_keys, nothing else.
-- The names carry the database's name because roles are cluster-wide: the local target runs several
-- deployments' databases on one PostgreSQL server (on RDS the database is "payments").

CREATE TABLE api_keys (
    id            text PRIMARY KEY CHECK (id ~ '^key_[a-z2-7]{26}$'),
    merchant_id   text NOT NULL CHECK (merchant_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    mode          text NOT NULL CHECK (mode IN ('test', 'live')),
    read_only     boolean NOT NULL,
    -- The last characters of the secret, so a listing can tell keys apart; never the secret itself.
    hint          text NOT NULL CHECK (length(hint) <= 4),
    -- HMAC-SHA256 of the secret under the deployment's pepper (kept in Secrets Manager, not here).
    secret_hash   bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    created_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);

CREATE INDEX api_keys_merchant_idx ON api_keys (merchant_id, created_at);

-- Nobody but the owner creates objects in the schema (PostgreSQL 15 already defaults to this; say it).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

DO $$
DECLARE
    app  text := current_database() || '_app';
    auth text := current_database() || '_auth';
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT', app);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = auth) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT', auth);
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I, %I', current_database(), app, auth);
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I, %I', app, auth);
    -- What the processor's statements use (store/postgres.py), table by table.
    EXECUTE format('GRANT SELECT, INSERT ON payments TO %I', app);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO %I', app);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON transaction_log_outbox TO %I', app);
    EXECUTE format('GRANT USAGE ON SEQUENCE transaction_log_outbox_id_seq TO %I', app);
    -- The authorizer only looks keys up.
    EXECUTE format('GRANT SELECT ON api_keys TO %I', auth);
END
$$;
