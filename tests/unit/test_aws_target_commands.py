"""Which terraform commands `payments deploy|plan|destroy|bootstrap|account --target aws` runs, in order: a deploy
converges each stack (plans, and applies that saved plan only when it changes something), the account stack first,
then the bootstrap, whose states move into the buckets they made on the first run and are found there on the next; a
destroy reads everything back and destroys the platform, then the state bucket (its state brought back out first)
where buckets may be force-destroyed, and leaves the account stack, which every deployment shares; a plan only plans.
The account is a fake here (no real AWS on this machine); the converge itself runs against the real terraform in
tests/functional/test_terraform_converge.py, the state's moves in tests/functional/test_self_hosted_state.py."""

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
        # As terraform's local backend leaves them: the (now empty) state and its backup of the one before.
        for name in ("local.tfstate", "local.tfstate.backup"):
            (self.workdir / name).write_text("{}")
        return Summary(remove=105 if destroy else 0)


class Bucket:
    """One state bucket in the account's S3, as far as a stack's state goes: whether its object is there."""

    def __init__(self) -> None:
        self.exists = False
        self.holds_state = False

    def head_object(self, **_: Any) -> None:
        if not self.holds_state:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")

    def head_bucket(self, **_: Any) -> None:
        if not (self.exists or self.holds_state):
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadBucket")


ACCOUNT_BUCKET = "payment-tfstate-123456789012-account-us-east-1"


class S3:
    """The account's S3: the deployment's state bucket and the account stack's, each a Bucket."""

    def __init__(self, deployment: Bucket, account: Bucket) -> None:
        self.buckets = {
            "payment-tfstate-dev-x": deployment,
            "payment-tfstate-prod-x": deployment,
            ACCOUNT_BUCKET: account,
        }

    def head_object(self, *, Bucket: str, **kwargs: Any) -> None:
        self.buckets[Bucket].head_object(**kwargs)

    def head_bucket(self, *, Bucket: str, **kwargs: Any) -> None:
        self.buckets[Bucket].head_bucket(**kwargs)


@pytest.fixture
def account_bucket() -> Bucket:
    """The account stack's bucket: applied already, by an earlier deployment, unless a test says otherwise."""
    applied = Bucket()
    applied.holds_state = True
    return applied


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch, account_bucket: Bucket) -> Bucket:
    deployment = Bucket()
    s3 = S3(deployment, account_bucket)
    monkeypatch.setattr(aws_target, "_s3", lambda _profile, _region: s3)
    return deployment


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bucket: Bucket) -> list[str]:
    recorded: list[str] = []
    stacks = (
        Recording("account", recorded, tmp_path / "a"),
        Recording("bootstrap", recorded, tmp_path / "b"),
        Recording("platform", recorded, tmp_path / "p"),
    )
    monkeypatch.setattr(aws_target, "check_credentials", lambda _profile: "123456789012")
    monkeypatch.setattr(
        aws_target,
        "_prepared",
        lambda _state, env, suffix, _account, _progress: SimpleNamespace(naming=Naming(env, suffix)),
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
        "account init (bucket)",
        "account converge",
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
        "account init (bucket)",
        "account converge",
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
    assert "    no admin function: nothing to delete" in lines
    assert "    no state bucket: nothing of the bootstrap stack to destroy" in lines


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
    assert calls[2:5] == ["bootstrap init", "bootstrap converge", "bootstrap state into the bucket"]
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


def test_the_first_deploy_in_an_account_applies_the_account_stack_first_its_state_into_its_own_bucket(
    calls: list[str], account_bucket: Bucket, tmp_path: Path
) -> None:
    account_bucket.holds_state = False
    (tmp_path / "a" / "local.tfstate").write_text("{}")
    (tmp_path / "b" / "local.tfstate").write_text("{}")
    _run("deploy")
    assert calls[:3] == ["account init", "account converge", "account state into the bucket"]
    assert calls[3:6] == ["bootstrap init", "bootstrap converge", "bootstrap state into the bucket"]
    override = json.loads((tmp_path / "a" / OVERRIDE_FILE).read_text())["terraform"]["backend"]["s3"]
    assert (override["bucket"], override["key"]) == (ACCOUNT_BUCKET, "account/terraform.tfstate")


def test_a_destroy_leaves_the_account_stack_and_says_how_to_remove_it(calls: list[str], bucket: Bucket) -> None:
    bucket.holds_state = True
    lines: list[str] = []
    aws_target.run(None, "dev", "x", "destroy", profile=None, progress=lines.append)  # type: ignore[arg-type]
    assert not [call for call in calls if call.startswith("account")]
    assert any("keeping the account stack payments-account-us-east-1" in line for line in lines)
    assert any("payments account --target aws --destroy" in line for line in lines)


def test_an_account_bucket_whose_state_nobody_holds_is_refused_before_any_deployment_is_touched(
    calls: list[str], account_bucket: Bucket
) -> None:
    account_bucket.holds_state, account_bucket.exists = False, True
    with pytest.raises(aws_target.BootstrapStateMissing, match="account stack's state"):
        _run("deploy")
    assert calls == []


def test_payments_account_applies_and_destroys_the_account_stack_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, account_bucket: Bucket, bucket: Bucket
) -> None:
    from payments_cli.deploy.state import StateFolder

    recorded: list[str] = []
    stack = Recording("account", recorded, tmp_path / "a")
    monkeypatch.setattr(aws_target, "check_credentials", lambda _profile: "123456789012")
    synthesized = SimpleNamespace(account_stack=lambda region: SimpleNamespace(path=stack.workdir / "cdk.tf.json"))
    monkeypatch.setattr(aws_target, "prepare_account", lambda *_args, **_kwargs: synthesized)
    monkeypatch.setattr(aws_target, "Terraform", lambda *_args, **_kwargs: stack)
    quiet = {"progress": lambda _line: None, "profile": None, "region": "us-east-1"}
    aws_target.account_stack(StateFolder(tmp_path / "state"), destroy=False, **quiet)  # type: ignore[arg-type]
    assert recorded == ["account init (bucket)", "account converge"]
    recorded.clear()
    assert aws_target.account_stack(StateFolder(tmp_path / "state"), destroy=True, **quiet).remove == 105  # type: ignore[arg-type,union-attr]
    assert recorded == ["account init (bucket)", "account state out of the bucket", "account destroy"]
    assert bucket.holds_state is False, "no deployment's bucket was touched"
    assert not list(stack.workdir.glob("local.tfstate*")), "neither the state nor terraform's backup of it is left"


def test_the_account_stack_waits_for_its_shared_lock_at_least_five_minutes() -> None:
    assert aws_target._account_lock_timeout("0s") == "300s"
    assert aws_target._account_lock_timeout("90s") == "300s"
    assert aws_target._account_lock_timeout("10m") == "10m"
    assert aws_target._account_lock_timeout("1h30m") == "1h30m"


def _own_account_stack(monkeypatch: pytest.MonkeyPatch, calls: list[str], tmp_path: Path) -> Recording:
    """The account stack's terraform, for a test to change; the other two recorded as before."""
    stacks = (
        Recording("account", calls, tmp_path / "a"),
        *(Recording(n, calls, tmp_path / n[0]) for n in ("bootstrap", "platform")),
    )
    monkeypatch.setattr(aws_target, "_stacks", lambda *_args: stacks)
    return stacks[0]


def test_a_first_apply_lost_to_another_run_goes_on_from_the_winners_state(
    calls: list[str], account_bucket: Bucket, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two first deploys in one account at once: this one applied from nothing and failed on a name the other made;
    the other moved its state in meanwhile. This run drops its partial state and converges from the bucket's."""
    from payments_cli.deploy.terraform import TerraformError

    account_bucket.holds_state = False
    recording = _own_account_stack(monkeypatch, calls, tmp_path)
    converge = recording.converge

    def lost(**kwargs: Any) -> Summary:
        if not (tmp_path / "a" / OVERRIDE_FILE).exists():
            (tmp_path / "a" / "local.tfstate").write_text("{}")  # what the failed apply left
            account_bucket.holds_state = True  # the other run's state, moved in meanwhile
            calls.append("account converge fails: EntityAlreadyExists")
            raise TerraformError("EntityAlreadyExists: Role with name payment-apigw-logs-account-us-east-1 exists")
        return converge(**kwargs)

    monkeypatch.setattr(recording, "converge", lost)
    _run("deploy")
    assert calls[:4] == [
        "account init",
        "account converge fails: EntityAlreadyExists",
        "account init (bucket)",
        "account converge",
    ]
    assert not (tmp_path / "a" / "local.tfstate").exists(), "the partial state is not kept, nor moved over the other's"


def test_a_first_apply_that_fails_on_its_own_is_reported_and_its_state_kept(
    calls: list[str], account_bucket: Bucket, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from payments_cli.deploy.terraform import TerraformError

    account_bucket.holds_state = False
    recording = _own_account_stack(monkeypatch, calls, tmp_path)

    def failed(**_: Any) -> Summary:
        (tmp_path / "a" / "local.tfstate").write_text("{}")
        raise TerraformError("AccessDenied: iam:CreateRole")

    monkeypatch.setattr(recording, "converge", failed)
    with pytest.raises(TerraformError, match="AccessDenied"):
        _run("deploy")
    assert (tmp_path / "a" / "local.tfstate").exists(), "the next run goes on from it"


def test_a_plan_shows_the_account_stack_a_deploy_would_apply_first(calls: list[str], bucket: Bucket) -> None:
    bucket.holds_state = True
    lines: list[str] = []
    aws_target.run(None, "dev", "x", "plan", profile=None, progress=lines.append)  # type: ignore[arg-type]
    assert calls == ["account init (bucket)", "account plan", "platform init", "platform plan"]
    assert "==> the account stack payments-account-us-east-1 (a deploy applies it first)" in lines


def test_an_interrupted_first_run_of_the_account_stack_is_picked_up_by_the_next_on_this_machine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, account_bucket: Bucket, bucket: Bucket
) -> None:
    """The stack's local state is kept in one folder of the state root, not in the run's folder: the next run (a new
    run folder) finds it, applies from it and moves it in, where a lost copy would leave the bucket orphaned."""
    from payments_cli.deploy.self_hosted_state import local_state_file
    from payments_cli.deploy.state import StateFolder

    account_bucket.holds_state = False
    state = StateFolder(tmp_path / "state")
    monkeypatch.setattr(aws_target, "check_credentials", lambda _profile: "123456789012")
    seen: list[Path] = []

    class Interrupted:
        """terraform whose first apply makes the bucket and writes the local state, then the run is stopped."""

        def __init__(self, workdir: Path, **_: Any) -> None:
            self.workdir = workdir

        def init(self, **_: Any) -> None:
            pass

        def converge(self, **_: Any) -> Summary:
            state_file = local_state_file(self.workdir)
            seen.append(state_file)
            if not state_file.exists():
                state_file.parent.mkdir(parents=True, exist_ok=True)
                state_file.write_text("{}")
                account_bucket.exists = True
                raise KeyboardInterrupt
            return Summary()

        def migrate_state(self, **_: Any) -> None:
            account_bucket.holds_state = True

    monkeypatch.setattr(aws_target, "Terraform", Interrupted)
    quiet = {"progress": lambda _line: None, "profile": None, "region": "us-east-1", "destroy": False}
    with pytest.raises(KeyboardInterrupt):
        aws_target.account_stack(state, **quiet)  # type: ignore[arg-type]
    aws_target.account_stack(state, **quiet)  # type: ignore[arg-type]
    assert seen[0] == seen[1] == state.root / "aws" / "account" / "account-us-east-1.tfstate"
    assert account_bucket.holds_state and not seen[0].exists(), "moved into its bucket, nothing left here"
