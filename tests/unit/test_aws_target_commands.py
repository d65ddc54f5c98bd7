"""Which terraform commands `payments deploy|plan|destroy|bootstrap --target aws` runs, in order: a deploy converges
each stack (plans, and applies that saved plan only when it changes something), the bootstrap's state moving into
the bucket it made on the first run and found there on the next; a destroy reads everything back and destroys the
platform, then the state bucket (its state brought back out first) where buckets may be force-destroyed; a plan only
plans. The account is a fake here (no real AWS on this machine); the converge itself runs against the real terraform
in tests/functional/test_terraform_converge.py, the state's moves in tests/functional/test_self_hosted_state.py."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from payments_cli.aws import target as aws_target
from payments_cli.deploy.self_hosted_state import OVERRIDE_FILE
from payments_cli.deploy.terraform import Summary
from payments_infra.naming import Naming

ORIGINAL_INVOKE_ADMIN = aws_target.invoke_admin


class Recording:
    """A stack's terraform that records each command and its arguments, in a folder as synthesis leaves it."""

    def __init__(self, name: str, calls: list[str], workdir: Path) -> None:
        self.name, self.calls, self.workdir = name, calls, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        backend = {"local": {"path": str(workdir / "local.tfstate")}}
        (workdir / "cdk.tf.json").write_text(json.dumps({"terraform": {"backend": backend}}))

    def init(self, **_: Any) -> None:
        self.calls.append(f"{self.name} init" + (" (bucket)" if (self.workdir / OVERRIDE_FILE).exists() else ""))

    def migrate_state(self, **_: Any) -> None:
        into = (self.workdir / OVERRIDE_FILE).exists()
        self.calls.append(f"{self.name} state {'into the bucket' if into else 'out of the bucket'}")

    def converge(self, **_: Any) -> Summary:
        self.calls.append(f"{self.name} converge")
        return Summary()

    def plan(self, **_: Any) -> Summary:
        self.calls.append(f"{self.name} plan")
        return Summary()

    def apply(self, *, destroy: bool = False, **_: Any) -> Summary:
        self.calls.append(f"{self.name} {'destroy' if destroy else 'apply'}")
        return Summary(remove=105 if destroy else 0)


class Bucket:
    """The account's S3, as far as the bootstrap's state goes: whether its object is there."""

    def __init__(self) -> None:
        self.exists = False
        self.holds_state = False

    def head_object(self, **_: Any) -> None:
        if not self.holds_state:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")

    def head_bucket(self, **_: Any) -> None:
        if not (self.exists or self.holds_state):
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadBucket")


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Bucket:
    s3 = Bucket()
    monkeypatch.setattr(aws_target, "_s3", lambda _profile, _region: s3)
    return s3


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bucket: Bucket) -> list[str]:
    recorded: list[str] = []
    stacks = (Recording("bootstrap", recorded, tmp_path / "b"), Recording("platform", recorded, tmp_path / "p"))
    monkeypatch.setattr(aws_target, "check_credentials", lambda _profile: "123456789012")
    monkeypatch.setattr(
        aws_target, "_prepared", lambda _state, env, suffix, _progress: SimpleNamespace(naming=Naming(env, suffix))
    )
    monkeypatch.setattr(aws_target, "_stacks", lambda *_args: stacks)

    def admin(_env: str, _suffix: str, payload: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        recorded.append(f"admin {payload['action']}")
        if payload["action"] == "forget_connectors":
            return {"connectors_removed": 3, "secrets_deleted": 2}
        return {"migrations_applied": []}

    monkeypatch.setattr(aws_target, "invoke_admin", admin)
    return recorded


def _run(action: str, environment: str = "dev") -> Summary:
    return aws_target.run(None, environment, "x", action, profile=None, progress=lambda _line: None)  # type: ignore[arg-type]


def test_a_first_deploy_converges_the_bootstrap_moves_its_state_into_its_bucket_then_the_platform(
    calls: list[str], tmp_path: Path
) -> None:
    (tmp_path / "b" / "local.tfstate").write_text("{}")  # what the first apply leaves
    _run("deploy")
    assert calls == [
        "bootstrap init",
        "bootstrap converge",
        "bootstrap state into the bucket",
        "platform init",
        "platform converge",
        "admin setup",
    ]
    override = json.loads((tmp_path / "b" / OVERRIDE_FILE).read_text())
    assert override["terraform"]["backend"]["s3"] == {
        "bucket": "payment-tfstate-dev-x",
        "key": aws_target.BOOTSTRAP_STATE_KEY,
        "region": "us-east-1",
        "encrypt": True,
        "use_lockfile": True,
    }
    assert not (tmp_path / "b" / "local.tfstate").exists(), "nothing of the deployment is left on this machine"


def test_a_later_deploy_finds_the_bootstraps_state_in_its_bucket(calls: list[str], bucket: Bucket) -> None:
    bucket.holds_state = True
    _run("deploy")
    assert calls == [
        "bootstrap init (bucket)",
        "bootstrap converge",
        "platform init",
        "platform converge",
        "admin setup",
    ]


def test_a_destroy_deletes_the_connector_secrets_the_platform_then_the_state_bucket(
    calls: list[str], bucket: Bucket, tmp_path: Path
) -> None:
    bucket.holds_state = True
    assert _run("destroy").remove == 105
    # The merchants' connector secrets are the admin function's (Terraform never sees a key): deleted through it
    # while it exists. The bootstrap's state comes out of the bucket before the bucket goes.
    assert calls == [
        "platform init",
        "admin forget_connectors",
        "platform destroy",
        "bootstrap init (bucket)",
        "bootstrap state out of the bucket",
        "bootstrap destroy",
    ]
    assert not (tmp_path / "b" / OVERRIDE_FILE).exists() and not (tmp_path / "b" / "local.tfstate").exists()


def test_a_destroy_keeps_the_state_bucket_where_buckets_are_never_force_destroyed(
    calls: list[str], bucket: Bucket
) -> None:
    bucket.holds_state = True
    _run("destroy", "prod")
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
    assert "    no admin function: nothing to delete" in lines and "    no state bucket: nothing to destroy" in lines


def test_payments_bootstrap_alone_leaves_the_bootstraps_state_in_its_bucket(calls: list[str]) -> None:
    aws_target.bootstrap(None, "dev", "x", profile=None, progress=lambda _line: None)  # type: ignore[arg-type]
    assert calls == ["bootstrap init", "bootstrap converge", "bootstrap state into the bucket"]


def test_a_bucket_whose_bootstrap_state_nobody_holds_is_refused_before_anything_is_applied(
    calls: list[str], bucket: Bucket
) -> None:
    """A first run stopped before its state moved, on another machine: applying again would create the bucket."""
    bucket.exists = True
    with pytest.raises(aws_target.BootstrapStateMissing, match=r"neither it .* nor this machine"):
        _run("deploy")
    with pytest.raises(aws_target.BootstrapStateMissing):
        _run("destroy")
    assert "bootstrap converge" not in calls and "bootstrap destroy" not in calls


def test_a_local_copy_is_the_newest_and_goes_into_the_bucket_over_its_copy(
    calls: list[str], bucket: Bucket, tmp_path: Path
) -> None:
    """A destroy that failed after bringing the state out left the newest copy here: it is used, then moved in."""
    bucket.holds_state = True
    (tmp_path / "b" / "local.tfstate").write_text("{}")
    _run("deploy")
    assert calls[:3] == ["bootstrap init", "bootstrap converge", "bootstrap state into the bucket"]
    calls.clear()
    (tmp_path / "b" / "local.tfstate").write_text("{}")
    (tmp_path / "b" / OVERRIDE_FILE).unlink()
    _run("destroy")
    assert calls[-2:] == ["bootstrap init", "bootstrap destroy"]


def test_a_state_bucket_these_credentials_may_not_read_is_an_error_not_a_crash(bucket: Bucket) -> None:
    from payments_cli.deploy.self_hosted_state import StateBucketUnreadable, StateHome, state_in_bucket

    def denied(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")

    bucket.head_object = denied  # type: ignore[method-assign]
    with pytest.raises(StateBucketUnreadable, match="s3:ListBucket") as refused:
        state_in_bucket(bucket, StateHome("payment-tfstate-dev-x", "bootstrap/terraform.tfstate", "us-east-1"))
    assert refused.value.exit_code == 1
