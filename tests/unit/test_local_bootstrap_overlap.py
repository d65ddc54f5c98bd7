"""The local deploy starts the platform as soon as the bootstrap has made the state bucket usable, and never
before: a failed bootstrap stops the deploy with its own error, and its terraform is always waited for.

A fake terraform (its apply blocks until the test lets it go) and a fake S3 client stand in for the real
ones here; tests/emulator/test_local_target.py deploys through the real terraform and moto server."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from payments_cli.deploy.background import BackgroundApply
from payments_cli.deploy.state import StateFolder
from payments_cli.deploy.terraform import Summary, TerraformError
from payments_cli.local import api_process, target
from payments_cli.local.records import ApiServer, ApplyCounts, DeploymentRecord, read_record, write_record


class FakeTerraform:
    """A terraform whose apply runs until ``finish`` is called, then returns or raises."""

    def __init__(self) -> None:
        self.workdir = Path("/stacks/payments-bootstrap-dev-x")
        self.released = threading.Event()
        self.result: Summary | Exception = Summary(add=6)

    def apply(self, **_: Any) -> Summary:
        self.released.wait(10)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result

    def finish(self, result: Summary | Exception | None = None) -> None:
        if result is not None:
            self.result = result
        self.released.set()


class FakeS3:
    """The three reads the readiness check makes; ``ready`` flips what they answer."""

    def __init__(self) -> None:
        self.ready = False
        self.polls = 0

    def get_bucket_versioning(self, Bucket: str) -> dict[str, str]:
        self.polls += 1
        if not self.ready:
            raise RuntimeError("NoSuchBucket")
        return {"Status": "Enabled"}

    def get_bucket_encryption(self, Bucket: str) -> dict[str, Any]:
        return {"ServerSideEncryptionConfiguration": {}}

    def get_public_access_block(self, Bucket: str) -> dict[str, Any]:
        return {"PublicAccessBlockConfiguration": dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls"), True)}


class FakeEmulator:
    def __init__(self, s3: FakeS3) -> None:
        self.s3 = s3

    def client(self, service: str) -> FakeS3:
        assert service == "s3"
        return self.s3


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("payments_cli.local.target.time.sleep", lambda _s: threading.Event().wait(0.01))


def test_the_wait_ends_when_the_bucket_is_usable_while_the_bootstrap_still_runs() -> None:
    terraform, s3 = FakeTerraform(), FakeS3()
    background = BackgroundApply(terraform)  # type: ignore[arg-type]
    threading.Timer(0.2, lambda: setattr(s3, "ready", True)).start()
    target._wait_for_state_bucket(FakeEmulator(s3), "payment-tfstate-dev-x", background)  # type: ignore[arg-type]
    assert s3.polls > 1 and not background.finished, "the platform may start before the lifecycle rules settle"
    terraform.finish()
    assert background.wait() == Summary(add=6)


def test_a_bootstrap_that_fails_first_is_the_error_and_nothing_else_starts() -> None:
    terraform, s3 = FakeTerraform(), FakeS3()
    background = BackgroundApply(terraform)  # type: ignore[arg-type]
    terraform.finish(TerraformError("terraform apply failed:\n  AccessDenied"))
    with pytest.raises(TerraformError, match="AccessDenied"):
        target._wait_for_state_bucket(FakeEmulator(s3), "payment-tfstate-dev-x", background)  # type: ignore[arg-type]


def test_a_bootstrap_that_succeeds_without_a_usable_bucket_is_an_error() -> None:
    terraform, s3 = FakeTerraform(), FakeS3()
    background = BackgroundApply(terraform)  # type: ignore[arg-type]
    terraform.finish()
    with pytest.raises(TerraformError, match="not usable"):
        target._wait_for_state_bucket(FakeEmulator(s3), "payment-tfstate-dev-x", background)  # type: ignore[arg-type]


def test_a_bucket_without_versioning_or_with_a_public_access_gap_is_not_ready() -> None:
    class Partial(FakeS3):
        def __init__(self, versioning: str, blocks: dict[str, bool]) -> None:
            super().__init__()
            self.ready = True
            self.versioning, self.blocks = versioning, blocks

        def get_bucket_versioning(self, Bucket: str) -> dict[str, str]:
            return {"Status": self.versioning} if self.versioning else {}

        def get_public_access_block(self, Bucket: str) -> dict[str, Any]:
            return {"PublicAccessBlockConfiguration": self.blocks}

    assert not target._state_bucket_ready(Partial("", {"BlockPublicAcls": True}), "b")
    assert not target._state_bucket_ready(Partial("Suspended", {"BlockPublicAcls": True}), "b")
    assert not target._state_bucket_ready(
        Partial("Enabled", {"BlockPublicAcls": True, "RestrictPublicBuckets": False}), "b"
    )
    assert target._state_bucket_ready(Partial("Enabled", {"BlockPublicAcls": True}), "b")


def test_wait_hands_back_the_applys_error_or_its_summary() -> None:
    failing = FakeTerraform()
    background = BackgroundApply(failing)  # type: ignore[arg-type]
    failing.finish(TerraformError("boom"))
    with pytest.raises(TerraformError, match="boom"):
        background.wait()
    assert background.finished and background.seconds >= 0


def test_a_re_run_inits_and_plans_first_in_the_background() -> None:
    class Recording(FakeTerraform):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []

        def init(self, **_: Any) -> None:
            self.calls.append("init")

        def converge(self, **_: Any) -> Summary:
            self.calls.append("converge")
            return Summary()

    terraform = Recording()
    assert BackgroundApply(terraform, plan_first=True, init=True).wait() == Summary()  # type: ignore[arg-type]
    assert terraform.calls == ["init", "converge"], "the plan is applied only when it changes something"
    first = Recording()
    first.finish()
    assert BackgroundApply(first).wait() == Summary(add=6)  # type: ignore[arg-type]
    assert first.calls == [], "a first deploy applies at once: everything changes"


def test_a_kept_api_server_is_one_started_from_the_same_outputs_emulator_postgresql_and_schedules(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    class Postgres:
        port = 5432

    monkeypatch.setattr(api_process, "postgres_for", lambda _state: Postgres())
    state = StateFolder(tmp_path)
    record = _record(emulator="http://127.0.0.1:1", outputs={"rest_api_id": "a1"})
    same = api_process._serving_fingerprint(state, record)
    assert (
        api_process._serving_fingerprint(state, _record(emulator="http://127.0.0.1:1", outputs={"rest_api_id": "a1"}))
        == same
    )
    assert api_process._serving_fingerprint(state, {**record, "outputs": {"rest_api_id": "b2"}}) != same
    assert api_process._serving_fingerprint(state, {**record, "emulator": "http://127.0.0.1:2"}) != same
    Postgres.port = 5433
    assert api_process._serving_fingerprint(state, record) != same
    Postgres.port = 5432
    monkeypatch.setenv("PAYMENTS_LOCAL_SCHEDULES", "0")
    assert api_process._serving_fingerprint(state, record) != same, "a server without schedules is not kept"
    monkeypatch.setenv("PAYMENTS_LOCAL_SCHEDULES", "on")
    assert api_process._serving_fingerprint(state, record) == same


def _record(*, emulator: str, outputs: dict[str, Any], api: ApiServer | None = None) -> DeploymentRecord:
    record = DeploymentRecord(
        environment="dev",
        suffix="t1",
        emulator_generation="g1",
        emulator=emulator,
        deployed_at=0.0,
        run_dir="runs/1",
        stack_dir="runs/1/stacks/platform",
        bootstrap_dir="runs/1/stacks/bootstrap",
        database="payments_dev_t1",
        outputs=outputs,
        last_apply=ApplyCounts(add=0, change=0, destroy=0),
    )
    if api is not None:
        record["api"] = api
    return record


def test_the_fingerprint_is_withdrawn_from_the_record_on_disk_before_terraform_runs(tmp_path: Path) -> None:
    """A run that applies and then fails must leave the running API server marked stale for the next run."""
    from payments_cli.deploy.state import read_json

    write_record(tmp_path, _record(emulator="http://127.0.0.1:1", outputs={}, api=ApiServer(pid=7, fingerprint="abc")))
    recorded = read_record(tmp_path)
    assert target._withdraw_fingerprint(tmp_path, recorded) == "abc"
    on_disk = read_json(tmp_path / "deployment.json")
    assert on_disk is not None and on_disk["api"] == {"pid": 7} and on_disk["outputs"] == {}
    assert target._withdraw_fingerprint(tmp_path, read_record(tmp_path)) is None
    assert target._withdraw_fingerprint(tmp_path, None) is None
