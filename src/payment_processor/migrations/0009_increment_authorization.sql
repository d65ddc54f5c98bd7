-- Incremental authorization: an authorized, uncaptured payment's amount may be raised (never lowered), recorded
-- as a payment action before the acquirer is asked, like a capture or a cancel.
ALTER TABLE payment_actions
    DROP CONSTRAINT payment_actions_action_check,
    DROP CONSTRAINT payment_actions_check,
    ADD CONSTRAINT payment_actions_action_check CHECK (action IN ('capture', 'cancel', 'increment_authorization')),
    ADD CONSTRAINT payment_actions_amount_matches_action
        CHECK ((action IN ('capture', 'increment_authorization')) = (amount IS NOT NULL));

-- A payment's amount changes only upward, and only while it is authorized and uncaptured: enforced for every
-- writer, as the transition table is (migration 0008).
CREATE FUNCTION payments_refuse_amount_change() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF NOT (OLD.status = 'requires_capture' AND NEW.status = 'requires_capture' AND NEW.amount > OLD.amount) THEN
        RAISE EXCEPTION 'a payment''s amount may only be raised while it is requires_capture'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_amount_only_incremented';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER payments_amount_change
    BEFORE UPDATE OF amount ON payments
    FOR EACH ROW WHEN (OLD.amount IS DISTINCT FROM NEW.amount)
    EXECUTE FUNCTION payments_refuse_amount_change();

-- The processor's role keeps no UPDATE on the amount: it raises one through this function alone, which
-- changes nothing unless the payment is still at the amount the caller read (and authorized).
CREATE FUNCTION increment_authorized_amount(payment text, from_amount bigint, to_amount bigint) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE public.payments SET amount = to_amount
     WHERE id = payment AND amount = from_amount AND status = 'requires_capture'
    RETURNING true
$$;
REVOKE ALL ON FUNCTION increment_authorized_amount(text, bigint, bigint) FROM PUBLIC;
DO $$
BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION increment_authorized_amount(text, bigint, bigint) TO %I',
                   current_database() || '_app');
END
$$;
