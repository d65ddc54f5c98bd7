-- A write that must change exactly one row says so to the server, which aborts the transaction when it did
-- not (a stale precondition: the row is no longer in the state the caller read). The processor sends such a
-- write without waiting for its row count (one pipeline per transaction), so the check cannot be its own.
CREATE FUNCTION expect_one_row(row_count bigint, what text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF row_count <> 1 THEN
        RAISE EXCEPTION '%', what USING ERRCODE = 'no_data_found';
    END IF;
END
$$;
