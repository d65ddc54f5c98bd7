"""Incremental authorization against the real PostgreSQL server, through the handler: the processor's role
raises an amount only through the one function migration 0009 gives it, and the database refuses any other
change of an amount, whoever writes it."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from payment_processor import handler as handler_module
from tests.conftest import Services
from tests.functional.test_payment_states import app_connection
from tests.support import body_of, payment_body, post, post_payment

pytestmark = pytest.mark.functional


def handle(event: dict[str, Any]) -> dict[str, Any]:
    return handler_module.handler(event, None)


def test_an_increment_is_recorded_asked_and_applied_with_its_event(lambda_env: Services) -> None:
    payment = body_of(handle(post_payment(payment_body(capture_method="manual", amount=1000), key="m")))
    raised = handle(post(f"/payments/{payment['id']}/increment_authorization", {"amount": 2500}, key="i"))
    assert raised["statusCode"] == 200 and body_of(raised)["amount"] == 2500, raised["body"]
    replay = handle(post(f"/payments/{payment['id']}/increment_authorization", {"amount": 2500}, key="i"))
    assert replay["body"] == raised["body"] and replay["headers"]["Idempotent-Replayed"] == "true"
    captured = handle(post(f"/payments/{payment['id']}/capture", key="c"))
    assert body_of(captured)["amount_captured"] == 2500
    with lambda_env.admin() as conn:
        row = conn.execute("SELECT amount, amount_captured FROM payments WHERE id = %s", (payment["id"],)).fetchone()
        events = conn.execute(
            "SELECT event_type FROM transaction_log_outbox WHERE payment_id = %s ORDER BY id", (payment["id"],)
        ).fetchall()
        actions = conn.execute("SELECT count(*) FROM payment_actions").fetchone()
    assert row == (2500, 2500) and actions == (0,)
    assert [e[0] for e in events] == [
        "payment.processing",
        "payment.requires_capture",
        "payment.authorization_incremented",
        "payment.succeeded",
    ]


def test_the_app_role_raises_an_amount_only_through_its_function_and_only_upward(lambda_env: Services) -> None:
    payment = body_of(handle(post_payment(payment_body(capture_method="manual", amount=1000), key="m")))
    with app_connection(lambda_env) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE payments SET amount = 5000 WHERE id = %s", (payment["id"],))
        # Lowering is refused by the trigger, not just left undone by the function's WHERE.
        with pytest.raises(psycopg.errors.CheckViolation) as lowered:
            conn.execute("SELECT increment_authorized_amount(%s, 1000, 10)", (payment["id"],))
        assert lowered.value.diag.constraint_name == "payments_amount_only_incremented"
        # From an amount it no longer has: nothing changes.
        assert conn.execute("SELECT increment_authorized_amount(%s, 999, 5000)", (payment["id"],)).fetchone() == (None,)
        assert conn.execute("SELECT increment_authorized_amount(%s, 1000, 1500)", (payment["id"],)).fetchone() == (
            True,
        )
    captured = body_of(handle(post(f"/payments/{payment['id']}/capture", key="c")))
    assert captured["amount_captured"] == 1500
    with app_connection(lambda_env) as conn:
        # Captured: no longer raisable, through the function or otherwise.
        assert conn.execute("SELECT increment_authorized_amount(%s, 1500, 9000)", (payment["id"],)).fetchone() == (
            None,
        )
    with lambda_env.admin() as conn, pytest.raises(psycopg.errors.CheckViolation) as changed:
        conn.execute("UPDATE payments SET amount = 9000 WHERE id = %s", (payment["id"],))
    assert changed.value.diag.constraint_name == "payments_amount_only_incremented"


def test_the_auth_role_may_not_call_it(lambda_env: Services) -> None:
    payment = body_of(handle(post_payment(payment_body(capture_method="manual", amount=1000), key="m")))
    with lambda_env.admin() as admin:
        auth_role = admin.execute("SELECT current_database() || '_auth'").fetchone()
        assert auth_role is not None
        allowed = admin.execute(
            "SELECT has_function_privilege(%s, 'increment_authorized_amount(text, bigint, bigint)', 'EXECUTE'), "
            "has_function_privilege('public', 'increment_authorized_amount(text, bigint, bigint)', 'EXECUTE')",
            (auth_role[0],),
        ).fetchone()
    assert allowed == (False, False)
    assert payment["amount"] == 1000
