-- Failed authentications per source address (issue 24): the authorizer counts each key it looked up and refused,
-- per address and fixed window, so key guessing from one address stops costing lookups once the address is over
-- the deployment's bound (payment_processor.failed_authentications). One row per address and window; rows of
-- windows older than a day go as new failures come, so the table stays the size of the last day's guessers.
CREATE TABLE failed_authentications (
    source_ip     inet NOT NULL,
    window_start  timestamptz NOT NULL,
    failures      integer NOT NULL CHECK (failures > 0),
    PRIMARY KEY (source_ip, window_start)
);
CREATE INDEX failed_authentications_window_idx ON failed_authentications (window_start);
REVOKE ALL ON failed_authentications FROM PUBLIC;

-- The authorizer's one way in: count one failure of this address in the window now falls in, and answer how many
-- the window holds and when it ends. The authorizer cannot read or change the table otherwise. The window is the
-- database's clock, by the epoch (not date_trunc, which would follow the session's time zone).
CREATE FUNCTION note_failed_authentication(address inet, window_s integer)
    RETURNS TABLE (failures integer, window_ends timestamptz)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    began timestamptz;
BEGIN
    IF window_s IS NULL OR window_s < 1 OR window_s > 86400 THEN
        RAISE EXCEPTION 'window_s must be 1 to 86400 seconds' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    began := to_timestamp(floor(extract(epoch FROM now()) / window_s) * window_s);
    DELETE FROM public.failed_authentications WHERE window_start < now() - interval '1 day';
    RETURN QUERY
        INSERT INTO public.failed_authentications AS f (source_ip, window_start, failures)
        VALUES (address, began, 1)
        ON CONFLICT (source_ip, window_start) DO UPDATE SET failures = f.failures + 1
        RETURNING f.failures, began + make_interval(secs => window_s);
END
$$;
REVOKE ALL ON FUNCTION note_failed_authentication(inet, integer) FROM PUBLIC;

DO $$
BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION note_failed_authentication(inet, integer) TO %I',
                   current_database() || '_auth');
END
$$;
