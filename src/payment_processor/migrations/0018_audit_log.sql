-- What operators did through the admin function (PCI DSS requirement 10): who (the identity the command ran as:
-- the AWS caller's ARN, or the local user), what, when, on what, and how it ended. Append-only: no role, its
-- owner included, changes or removes a row; the processor's and the authorizer's roles cannot even read it.
-- No secret ever enters it: the admin function keeps ids, names and outcomes only (payment_processor.audit).
CREATE TABLE audit_log (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor    text NOT NULL CHECK (length(actor) BETWEEN 1 AND 512),
    action   text NOT NULL CHECK (action ~ '^[a-z_]{1,64}$'),
    target   text CHECK (length(target) <= 512),
    outcome  text NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),
    detail   jsonb NOT NULL DEFAULT '{}' CHECK (pg_column_size(detail) <= 4096)
);
CREATE INDEX audit_log_at_idx ON audit_log (at, id);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- Triggers hold for every role (a superuser's statements too); the revoke below makes the owner's own attempt a
-- plain permission error first.
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_never_truncated BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
REVOKE ALL ON audit_log FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM CURRENT_USER;
