"""Which terraform commands `payments deploy|plan|destroy --target aws` runs, in order: a deploy converges
each stack (plans, and applies that saved plan only when it changes something), a destroy reads everything
back and destroys, a plan only plans. The account is a fake here (no real AWS on this machine); the
converge itself runs against the real terraform in tests/functional/test_terraform_converge.py."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from payments_cli.aws import target as aws_target
from payments_cli.deploy.terraform import Summary
from payments_infra.naming import Naming

ORIGINAL_INVOKE_ADMIN = aws_target.invoke_admin


class Recording:
    """A stack's terraform that records each command and its arguments."""

    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    def init(self, **_: Any) -> None:
        self.calls.append(f"{self.name} init")

    def converge(self, **_: Any) -> Summary:
        self.calls.append(f"{self.name} converge")
        return Summary()

    def plan(self, **_: Any) -> Summary:
        self.calls.append(f"{self.name} plan")
        return Summary()

    def apply(self, *, destroy: bool = False, **_: Any) -> Summary:
        self.calls.append(f"{self.name} {'destroy' if destroy else 'apply'}")
        return Summary(remove=105 if destroy else 0)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    recorded: list[str] = []
    prepared = SimpleNamespace(naming=Naming("dev", "x"), folder=tmp_path)
    stacks = (Recording("bootstrap", recorded), Recording("platform", recorded))
    monkeypatch.setattr(aws_target, "check_credentials", lambda _profile: "123456789012")
    monkeypatch.setattr(aws_target, "_prepared", lambda *_args: prepared)
    monkeypatch.setattr(aws_target, "_stacks", lambda *_args: stacks)

    def admin(_env: str, _suffix: str, payload: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        recorded.append(f"admin {payload['action']}")
        if payload["action"] == "forget_connectors":
            return {"connectors_removed": 3, "secrets_deleted": 2}
        return {"migrations_applied": []}

    monkeypatch.setattr(aws_target, "invoke_admin", admin)
    return recorded


def _run(action: str) -> Summary:
    return aws_target.run(None, "dev", "x", action, profile=None, progress=lambda _line: None)  # type: ignore[arg-type]


def test_a_deploy_converges_the_bootstrap_then_the_platform_then_sets_up_the_database(calls: list[str]) -> None:
    _run("deploy")
    assert calls == ["bootstrap init", "bootstrap converge", "platform init", "platform converge", "admin setup"]


def test_a_destroy_deletes_the_connector_secrets_then_destroys_the_platform_only(calls: list[str]) -> None:
    assert _run("destroy").remove == 105
    # The merchants' connector secrets are the admin function's (Terraform never sees a key): deleted through it
    # while it exists. The state bucket outlives the platform's destroy.
    assert calls == ["platform init", "admin forget_connectors", "platform destroy"]


def test_a_destroy_without_an_admin_function_goes_on(monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> None:
    class Lambda:
        """The account's answer for a function that is not there."""

        def invoke(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, "Invoke")

    def admin(env: str, suffix: str, payload: dict[str, Any], **_: Any) -> dict[str, Any]:
        return ORIGINAL_INVOKE_ADMIN(env, suffix, payload, profile=None, client=Lambda())

    monkeypatch.setattr(aws_target, "invoke_admin", admin)
    lines: list[str] = []
    aws_target.run(None, "dev", "x", "destroy", profile=None, progress=lines.append)  # type: ignore[arg-type]
    assert calls == ["platform init", "platform destroy"]
    assert "    no admin function: nothing to delete" in lines
