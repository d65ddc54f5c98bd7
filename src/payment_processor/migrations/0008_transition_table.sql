-- The moves between states, enforced by the database as well as by the code (payment_processor/states.py,
-- whose tables these are; tests/functional/test_transition_table.py walks every pair against both). The
-- CHECK constraints say which columns each state must carry; these triggers say which state may follow
-- which, so no code path, present or future, and no operator's hand can write an impossible history
-- (a refunded payment made succeeded again, a declined one captured). A change that keeps the status
-- (acquirer attempts, amounts refunded) is no move and is not looked at here.
--
-- Raised as a check violation (SQLSTATE 23514) naming its own constraint, as the CHECKs are.
CREATE FUNCTION payments_refuse_forbidden_transition() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF (OLD.status, NEW.status) NOT IN (VALUES
        ('processing', 'succeeded'),
        ('processing', 'requires_capture'),
        ('processing', 'declined'),
        ('processing', 'failed'),
        ('requires_capture', 'succeeded'),
        ('requires_capture', 'canceled'),
        ('succeeded', 'refunded'))
    THEN
        RAISE EXCEPTION 'a payment in % cannot become %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_status_transition';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER payments_status_transition
    BEFORE UPDATE OF status ON payments
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION payments_refuse_forbidden_transition();

CREATE FUNCTION refunds_refuse_forbidden_transition() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF (OLD.status, NEW.status) NOT IN (VALUES
        ('pending', 'succeeded'),
        ('pending', 'failed'))
    THEN
        RAISE EXCEPTION 'a refund in % cannot become %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'refunds_status_transition';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER refunds_status_transition
    BEFORE UPDATE OF status ON refunds
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION refunds_refuse_forbidden_transition();
