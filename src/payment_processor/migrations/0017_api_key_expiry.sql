-- Keys that expire and roll (payments keys create --expires-in, payments keys roll --overlap): a key stops
-- working at expires_at (NULL: never), which a roll sets to the end of its overlap while it issues the
-- replacement (replaced_by names it, so an expired key's answer can say it was rolled). last_used_at is the
-- hour a key last authenticated, written by the authorizer at most once an hour per key.
ALTER TABLE api_keys
    ADD COLUMN expires_at   timestamptz,
    ADD COLUMN last_used_at timestamptz,
    ADD COLUMN replaced_by  text REFERENCES api_keys (id),
    ADD CONSTRAINT api_keys_expires_after_creation CHECK (expires_at IS NULL OR expires_at >= created_at),
    -- By the epoch, not date_trunc: that truncates in the session's time zone (a +05:30 zone's hours are not UTC's).
    ADD CONSTRAINT api_keys_used_to_the_hour CHECK (extract(epoch FROM last_used_at) % 3600 = 0);

-- What the job counts for the expiring-keys alarm.
CREATE INDEX api_keys_expiring_idx ON api_keys (expires_at) WHERE expires_at IS NOT NULL AND revoked_at IS NULL;

-- The authorizer writes the hour of use and nothing else; the processor's role counts the keys about to expire
-- through one function, and reads nothing else of the table (no hash, no merchant).
CREATE FUNCTION api_keys_expiring_within(window_s double precision) RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT count(*) FROM public.api_keys
     WHERE revoked_at IS NULL AND expires_at > now() AND expires_at <= now() + make_interval(secs => window_s)
$$;
REVOKE ALL ON FUNCTION api_keys_expiring_within(double precision) FROM PUBLIC;

DO $$
BEGIN
    EXECUTE format('GRANT UPDATE (last_used_at) ON api_keys TO %I', current_database() || '_auth');
    EXECUTE format('GRANT EXECUTE ON FUNCTION api_keys_expiring_within(double precision) TO %I',
                   current_database() || '_app');
END
$$;
