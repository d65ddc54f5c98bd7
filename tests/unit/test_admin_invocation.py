"""How `payments keys` and `payments deploy --target aws` read the admin function's answer: a function
error arrives as a 200 with FunctionError set and must never pass for success."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from payments_cli.aws.target import invoke_admin
from payments_cli.deploy.admin import AdminCallFailed


class FakeLambda:
    """Records invocations; answers with a fixed payload."""

    def __init__(self, payload: Any, function_error: str | None = None) -> None:
        self.payload, self.function_error = payload, function_error
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        answer: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.payload).encode())}
        if self.function_error:
            answer["FunctionError"] = self.function_error
        return answer


def test_the_deployments_admin_function_is_invoked_with_the_action() -> None:
    fake = FakeLambda({"ok": True, "keys": []})
    assert invoke_admin("prod", "pr42", {"action": "list_keys"}, profile=None, client=fake) == {"ok": True, "keys": []}
    assert fake.calls[0]["FunctionName"] == "payment-admin-prod-pr42"
    assert json.loads(fake.calls[0]["Payload"]) == {"action": "list_keys"}


def test_a_function_error_is_a_failure_even_with_status_200() -> None:
    fake = FakeLambda(
        {"errorMessage": "Task timed out after 60.00 seconds", "errorType": "Sandbox.Timedout"}, "Unhandled"
    )
    with pytest.raises(AdminCallFailed, match="Task timed out"):
        invoke_admin("dev", "pr42", {"action": "setup"}, profile=None, client=fake)


def test_a_refusal_carries_its_code() -> None:
    fake = FakeLambda({"ok": False, "error": {"code": "invalid_request", "message": "merchant id must be ..."}})
    with pytest.raises(AdminCallFailed, match="merchant id must be") as caught:
        invoke_admin("dev", "pr42", {"action": "create_key"}, profile=None, client=fake)
    assert caught.value.code == "invalid_request"
