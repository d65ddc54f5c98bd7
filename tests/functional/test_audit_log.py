"""The audit log on the real PostgreSQL: every admin action that changes something is one entry (who, what, on
what, how it ended), refusals and failures included, reads are not; no secret ever enters it; it is append-only
for every role, and the processor's and authorizer's roles cannot read it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest

from tests.conftest import BUCKET, Services
from tests.functional.test_merchant_connectors import SECRET, admin
from tests.functional.test_security import login, refused

pytestmark = pytest.mark.functional


@pytest.fixture
def operator() -> str:
    """This test's operator: the log outlives every test (nothing may empty it), so each reads its own entries."""
    return f"arn:aws:iam::123456789012:user/ops-{uuid.uuid4().hex[:12]}"


def act(services: Services, operator: str, **event: Any) -> dict[str, Any]:
    return admin(services, {"actor": operator, **event})


def entries(services: Services, operator: str | None = None, **query: Any) -> list[dict[str, Any]]:
    answer = admin(services, {"action": "list_audit", **query})
    assert answer["ok"], answer
    return [e for e in answer["entries"] if operator is None or e["actor"] == operator]


def test_every_change_is_recorded_with_who_what_and_how_it_ended_and_no_secret(clean: Services, operator: str) -> None:
    created = act(clean, operator, action="create_key", merchant_id="merch_audit", expires_in_s=86400)
    key = created["key"]
    rolled = act(clean, operator, action="roll_key", key_id=key["id"], overlap_s=3600)
    refused_roll = act(clean, operator, action="roll_key", key_id=key["id"], overlap_s=0)
    missing = act(clean, operator, action="revoke_key", key_id="key_" + "q" * 26)
    assert act(clean, operator, action="list_keys")["ok"], "a read"
    made = act(clean, operator, action="set_connector", merchant_id="merch_audit", connector="stripe", secret=SECRET)
    assert (
        made["ok"]
        and act(clean, operator, action="remove_connector", merchant_id="merch_audit", connector="stripe")["ok"]
    )
    assert not refused_roll["ok"] and not missing["ok"]
    assert admin(clean, {"action": "setup"})["ok"]  # a command that does not say who it is

    logged = entries(clean, operator)
    shown = [(e["action"], e["target"], e["outcome"], e["detail"].get("code")) for e in reversed(logged)]
    assert shown == [
        ("create_key", key["id"], "ok", None),
        ("roll_key", key["id"], "ok", None),
        ("roll_key", key["id"], "refused", "conflict"),
        ("revoke_key", "key_" + "q" * 26, "refused", "not_found"),
        ("set_connector", "merch_audit/stripe", "ok", None),
        ("remove_connector", "merch_audit/stripe", "ok", None),
    ]
    assert logged[-2]["detail"]["made_key_id"] == rolled["key"]["id"]
    assert logged[-1]["detail"] == {"merchant_id": "merch_audit", "expires_in_s": 86400, "made_key_id": key["id"]}
    setup = entries(clean, "unknown", limit=1)
    assert [(e["action"], e["outcome"]) for e in setup] == [("setup", "ok")]
    # No secret in any answer of the log, nor anywhere in the table.
    with login(clean, clean.world.admin_secret_arn) as conn:
        table = json.dumps(conn.execute("SELECT * FROM audit_log").fetchall(), default=str)
    for secret in (key["secret"], rolled["key"]["secret"], SECRET):
        assert secret not in table and secret not in json.dumps(logged)


def test_the_log_reads_from_a_time_and_at_most_a_limit_and_refuses_nonsense(clean: Services, operator: str) -> None:
    for merchant in ("m1", "m2", "m3"):
        act(clean, operator, action="create_key", merchant_id=merchant)
    newest = entries(clean, limit=2)
    assert [(e["actor"], e["detail"]["merchant_id"]) for e in newest] == [(operator, "m3"), (operator, "m2")]
    assert [e["detail"].get("merchant_id") for e in entries(clean, since=newest[1]["at"])] == ["m3", "m2"]
    for query in (
        {"since": "yesterday"},
        {"since": "2026-12-01T00:00:00"},
        {"limit": 0},
        {"limit": True},
        {"since": 5},
    ):
        answer = admin(clean, {"action": "list_audit", **query})
        assert (answer["ok"], answer["error"]["code"]) == (False, "invalid_request"), query


def test_the_log_is_append_only_for_every_role_and_unreadable_by_the_functions_roles(
    clean: Services, operator: str
) -> None:
    act(clean, operator, action="create_key", merchant_id="merch_audit")
    with login(clean, clean.world.admin_secret_arn) as conn:
        (before,) = conn.execute("SELECT count(*) FROM audit_log").fetchone() or (0,)
        for change in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(change)
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (before,) and before >= 1
    # The owner's triggers hold for a superuser too (who passes every privilege check).
    with clean.admin() as conn:
        for change in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(change)
    for role in (clean.world.app_secret_arn, clean.world.auth_secret_arn):
        with login(clean, role) as conn:
            assert refused(conn, "SELECT * FROM audit_log")
            assert refused(conn, "INSERT INTO audit_log (actor, action, outcome) VALUES ('x', 'setup', 'ok')")


def test_each_entry_is_copied_into_the_transaction_log_bucket_and_a_failed_copy_is_said(
    clean: Services, operator: str
) -> None:
    act(clean, operator, action="create_key", merchant_id="merch_copied")
    (entry,) = entries(clean, operator)
    s3 = clean.s3()
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="audit/")  # type: ignore[attr-defined]
    key = f"audit/{entry['at'][:10].replace('-', '/')}/{entry['id']:012d}-create_key.json"
    assert key in [o["Key"] for o in listed.get("Contents", [])]
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()  # type: ignore[attr-defined]
    assert json.loads(body) == entry
    # No bucket to copy into: the action stands, the entry is in the table, and the answer says what is missing.
    answer = admin(
        clean,
        {"actor": operator, "action": "create_key", "merchant_id": "merch_uncopied"},
        transaction_log_bucket="no-such-bucket-here",
    )
    assert answer["ok"] and answer["key"]["secret"]
    assert (
        "was not copied to the bucket" in answer["audit_error"] and answer["key"]["secret"] not in answer["audit_error"]
    )
    assert [e["detail"]["merchant_id"] for e in entries(clean, operator)] == ["merch_uncopied", "merch_copied"]
