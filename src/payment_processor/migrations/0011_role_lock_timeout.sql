-- The app role's lock timeout as its own setting (as 0006 does for statement timeouts), so a transaction needs
-- no SET LOCAL of its own: one statement less in every transaction of a request. The processor still sends
-- one when it is configured with another value (IDEMPOTENCY_LOCK_TIMEOUT_MS); store/postgres.py names this one
-- (ROLE_LOCK_TIMEOUT_MS) and a test holds the two equal.
DO $$
BEGIN
    EXECUTE format('ALTER ROLE %I SET lock_timeout = %L', current_database() || '_app', '10s');
END
$$;
