"""Preflight on a Terraform project it did not synthesize: an HCL project planned with the real terraform
against a moto server, checked through the plan JSON (`terraform show -json PLANFILE`) by the real
`payments check` command.

``hcl/deploy_failures/`` carries the ten catalogued deploy failures, ``hcl/fixed/`` the same project corrected.
Each is planned once per session (``terraform init`` with its S3 backend on the emulator, ``plan -out``,
``show -json``; the two in parallel: ~20 s together on this 2-core machine).

What a plan JSON can show: values known at plan time are in ``planned_values``; a value known only after
apply (an ARN, an endpoint, a ``jsonencode()`` of one) is absent there and ``configuration`` keeps only the
list of resources its expression refers to. The backend block is in neither: for a state bucket and lock table
shared by every deployment (state-backend-shared) preflight reads the backend `terraform init` recorded in
``.terraform/`` beside the plan. The other failures are in the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from payments_cli.local.emulator import EMULATOR_CREDENTIALS, MotoServer
from preflight.failures import FAILURES
from preflight.registry import all_checks
from tests.cli.command import payments
from tests.preflight.hcl.planning import (
    DEFECTS,
    DEPLOY_FAILURES,
    FIXED,
    SUFFIX,
    VISIBLE_IN_PLAN_JSON,
    Planned,
    deploy_failures_text,
    plan_project,
    terraform_or_reason,
)

pytestmark = pytest.mark.functional

#: Every error the plan of the deploy failures must produce, by the failure it comes from: (check id, resource).
#: db-instance-exists also leaves the final snapshot's name unsuffixed, and function-exists the function's log
#: group.
FAILURE_FINDINGS: dict[str, set[tuple[str, str]]] = {
    "state-backend-shared": {("PF101", "terraform.backend.s3")},
    "secret-not-found": {("PF101", "aws_secretsmanager_secret.db_password")},
    "db-instance-exists": {("PF101", "aws_db_instance.main")},
    "rds-defaults-implicit": {("PF301", "aws_db_instance.main"), ("PF302", "aws_db_instance.main")},
    "bucket-exists": {("PF101", "aws_s3_bucket.transaction_logs")},
    "log-bucket-access-denied": {("PF201", "aws_lambda_function.processor")},
    "function-exists": {("PF101", "aws_lambda_function.processor"), ("PF101", "aws_cloudwatch_log_group.processor")},
    "placeholder-package": {("PF401", "aws_lambda_function.processor"), ("PF402", "aws_lambda_function.processor")},
    "api-invoke-permission-missing": {("PF501", "aws_api_gateway_integration.create_payment")},
    "api-deployment-stale": {
        ("PF601", "aws_api_gateway_deployment.payments"),
        ("PF602", "aws_api_gateway_deployment.payments"),
    },
}


@dataclass(frozen=True)
class Checked:
    """One `payments check PLAN --format json` run."""

    returncode: int
    report: dict[str, Any]
    stderr: str

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The error-severity findings."""
        return [f for f in self.report["findings"] if f["severity"] == "error"]

    def pairs(self) -> set[tuple[str, str]]:
        """(check id, resource) of every error."""
        return {(f["check_id"], f["resource"]) for f in self.errors}


def check(plan: Path, *args: str) -> Checked:
    """`payments check --format json ARGS PLAN` in a fresh process; its report must be JSON."""
    result = payments("check", "--format", "json", *args, str(plan))
    assert result.returncode in (0, 1), f"exit {result.returncode}: {result.stderr[-2000:]}"
    return Checked(result.returncode, json.loads(result.stdout), result.stderr)


@pytest.fixture(scope="session")
def hcl_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server of its own (no PostgreSQL: planning needs only the AWS APIs)."""
    server = MotoServer(log_path=tmp_path_factory.mktemp("hcl-moto") / "moto.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def plans(hcl_moto: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Planned]:
    """Both fixture projects planned against the emulator, once per session, side by side."""
    terraform, reason = terraform_or_reason()
    if terraform is None:
        pytest.fail(reason)
    root = tmp_path_factory.mktemp("hcl-plans")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(plan_project, source, root / name, hcl_moto.endpoint)
            for name, source in (("deploy_failures", DEPLOY_FAILURES), ("fixed", FIXED))
        }
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="session")
def failures_check(plans: dict[str, Planned]) -> Checked:
    """The plan of the deploy failures, checked once."""
    return check(plans["deploy_failures"].plan_json)


def test_the_deploy_failures_project_is_the_fixed_one_with_every_failure_written_in() -> None:
    """The two projects differ by the catalogued failures and nothing else (planning.DEFECTS makes the one from
    the other; the benchmark plans each failure alone from the same edits)."""
    assert (DEPLOY_FAILURES / "main.tf").read_text() == deploy_failures_text()
    assert list(DEFECTS) == list(FAILURES)


def test_the_plans_are_terraforms_own_json_of_complete_plans(plans: dict[str, Planned]) -> None:
    for name, planned in plans.items():
        plan = json.loads(planned.plan_json.read_text())
        assert plan["format_version"].startswith("1."), name
        assert plan["complete"] is True and plan["errored"] is False, name
        assert plan["variables"]["environment_suffix"]["value"] == SUFFIX, name
        actions = {c["address"]: tuple(c["change"]["actions"]) for c in plan["resource_changes"]}
        # The policy document refers to ARNs known only after apply, so terraform reads it then.
        assert actions.pop("data.aws_iam_policy_document.processor") == ("read",), name
        assert set(actions.values()) == {("create",)}, name
        # The backend is in neither planned_values nor configuration: a shared one is read from .terraform/.
        assert "backend" not in json.dumps(plan["configuration"]), name


@pytest.mark.parametrize("failure", sorted(VISIBLE_IN_PLAN_JSON))
def test_each_failure_visible_in_the_plan_is_found_by_its_check(failures_check: Checked, failure: str) -> None:
    built_for = {c.id: set(c.prevents) for c in all_checks()}
    expected = FAILURE_FINDINGS[failure]
    missing = sorted(expected - failures_check.pairs())
    assert expected <= failures_check.pairs(), f"{failure}: missing {missing}"
    assert all(failure in built_for[check_id] for check_id, _ in expected)


def test_the_plan_of_the_failures_fails_with_exactly_their_errors(failures_check: Checked) -> None:
    assert failures_check.returncode == 1, failures_check.stderr
    expected = set().union(*FAILURE_FINDINGS.values())
    assert failures_check.pairs() == expected, json.dumps(failures_check.errors, indent=1)
    assert failures_check.report["counts"]["error"] == len(failures_check.errors)
    names = {f["attribute"] for f in failures_check.errors if f["resource"] == "aws_db_instance.main"}
    assert {"identifier", "final_snapshot_identifier", "multi_az", "publicly_accessible"} <= names


def test_findings_point_at_the_plan_and_the_resource_address(
    plans: dict[str, Planned], failures_check: Checked
) -> None:
    path = plans["deploy_failures"].plan_json
    assert failures_check.report["files"] == [str(path)]
    bucket = next(f for f in failures_check.errors if f["resource"] == "aws_s3_bucket.transaction_logs")
    assert bucket["check_id"] == "PF101" and bucket["attribute"] == "bucket"
    assert bucket["location"] == "aws_s3_bucket.transaction_logs"  # for a plan, the address is where the fix goes
    assert bucket["file"] == str(path)
    assert "payment-transaction-logs-dev" in bucket["message"] and SUFFIX in bucket["message"]


def test_the_backend_is_read_from_init_s_record_without_its_credentials(
    plans: dict[str, Planned], failures_check: Checked
) -> None:
    """The shared state backend through the backend `terraform init` recorded: the bucket and the lock table both
    named without the suffix; the record also holds the keys and endpoints init was given, which no report shows."""
    backend = {f["attribute"]: f for f in failures_check.errors if f["resource"] == "terraform.backend.s3"}
    assert set(backend) == {"bucket", "dynamodb_table"}
    assert "terraform-state-payment-processing" in backend["bucket"]["message"]
    recorded = (plans["deploy_failures"].folder / ".terraform" / "terraform.tfstate").read_text()
    assert EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"] in recorded, "the record holds the init's secret key"
    for fmt in ("json", "sarif", "text"):
        shown = payments("check", "--format", fmt, str(plans["deploy_failures"].plan_json))
        assert shown.returncode == 1
        assert EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in shown.stdout + shown.stderr, fmt
        assert "secret_key" not in shown.stdout + shown.stderr, fmt
    # Without the record (the plan JSON moved elsewhere) the shared backend is simply not visible, and nothing
    # fails.
    moved = plans["deploy_failures"].folder.parent / "moved-plan.json"
    moved.write_text(plans["deploy_failures"].plan_json.read_text())
    elsewhere = check(moved)
    assert not {f for f in elsewhere.pairs() if f[1].startswith("terraform.")}
    assert elsewhere.pairs() == failures_check.pairs() - FAILURE_FINDINGS["state-backend-shared"]


def test_the_fixed_plan_is_clean(plans: dict[str, Planned]) -> None:
    fixed = check(plans["fixed"].plan_json)
    assert fixed.returncode == 0, json.dumps(fixed.report["findings"], indent=1)
    assert fixed.report["findings"] == [], json.dumps(fixed.report["findings"], indent=1)
    assert fixed.report["counts"]["error"] == 0


def test_the_suffix_given_on_the_command_line_is_the_one_names_are_held_to(plans: dict[str, Planned]) -> None:
    """The plan says its suffix (variables, tags); --suffix overrides it: names made for pr7 fail for pr8."""
    same = check(plans["fixed"].plan_json, "--suffix", SUFFIX)
    assert same.returncode == 0, json.dumps(same.errors, indent=1)
    other = check(plans["fixed"].plan_json, "--suffix", "pr8")
    assert other.returncode == 1
    assert {
        "aws_s3_bucket.transaction_logs",
        "aws_secretsmanager_secret.db_password",
        "aws_db_instance.main",
        "aws_lambda_function.processor",
    } <= {resource for check_id, resource in other.pairs() if check_id == "PF101"}
