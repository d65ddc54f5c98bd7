"""Preflight on a Terraform project it did not synthesize: an HCL project planned with the real terraform
against a moto server, checked through the plan JSON (`terraform show -json PLANFILE`) by the real
`payments check` command.

``hcl/seed_defects/`` carries the seed post-mortem's ten defects, ``hcl/fixed/`` the same project corrected.
Each is planned once per session (``terraform init`` with its S3 backend on the emulator, ``plan -out``,
``show -json``; the two in parallel: ~20 s together on this 2-core machine).

What a plan JSON can show: values known at plan time are in ``planned_values``; a value known only after
apply (an ARN, an endpoint, a ``jsonencode()`` of one) is absent there and ``configuration`` keeps only the
list of resources its expression refers to. The backend block is in neither: for seed defect 1 (state bucket
and lock table without the suffix) preflight reads the backend `terraform init` recorded in ``.terraform/``
beside the plan. Defects 2-10 are in the JSON.
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
from preflight.registry import all_checks
from tests.cli.command import payments
from tests.preflight.hcl.planning import (
    DEFECTS,
    FIXED,
    SEED_DEFECTS,
    SUFFIX,
    VISIBLE_IN_PLAN_JSON,
    Planned,
    plan_project,
    seed_defects_text,
    terraform_or_reason,
)

pytestmark = pytest.mark.functional

#: Every error the seed-defect plan must produce, by the seed defect it comes from: (check id, resource).
#: Defect 3 also leaves the final snapshot's name unsuffixed, and defect 7 the function's log group.
SEED_FINDINGS: dict[int, set[tuple[str, str]]] = {
    1: {("PF101", "terraform.backend.s3")},
    2: {("PF101", "aws_secretsmanager_secret.db_password")},
    3: {("PF101", "aws_db_instance.main")},
    4: {("PF301", "aws_db_instance.main"), ("PF302", "aws_db_instance.main")},
    5: {("PF101", "aws_s3_bucket.transaction_logs")},
    6: {("PF201", "aws_lambda_function.processor")},
    7: {("PF101", "aws_lambda_function.processor"), ("PF101", "aws_cloudwatch_log_group.processor")},
    8: {("PF401", "aws_lambda_function.processor"), ("PF402", "aws_lambda_function.processor")},
    9: {("PF501", "aws_api_gateway_integration.create_payment")},
    10: {("PF601", "aws_api_gateway_deployment.payments"), ("PF602", "aws_api_gateway_deployment.payments")},
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
            for name, source in (("seed_defects", SEED_DEFECTS), ("fixed", FIXED))
        }
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="session")
def seed_check(plans: dict[str, Planned]) -> Checked:
    """The seed-defect plan, checked once."""
    return check(plans["seed_defects"].plan_json)


def test_seed_defects_project_is_the_fixed_one_with_every_defect_written_in() -> None:
    """The two projects differ by the seed's defects and nothing else (planning.DEFECTS makes the one from the
    other; the benchmark plans each defect alone from the same edits)."""
    assert (SEED_DEFECTS / "main.tf").read_text() == seed_defects_text()
    assert sorted(DEFECTS) == list(range(1, 11))


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
        # The backend is in neither planned_values nor configuration: seed defect 1 is read from .terraform/.
        assert "backend" not in json.dumps(plan["configuration"]), name


@pytest.mark.parametrize("defect", sorted(VISIBLE_IN_PLAN_JSON))
def test_each_seed_defect_visible_in_the_plan_is_found_by_its_check(seed_check: Checked, defect: int) -> None:
    built_for = {c.id: set(c.seed_defects) for c in all_checks()}
    expected = SEED_FINDINGS[defect]
    assert expected <= seed_check.pairs(), f"seed defect {defect}: missing {sorted(expected - seed_check.pairs())}"
    assert all(defect in built_for[check_id] for check_id, _ in expected)


def test_the_seed_defect_plan_fails_with_exactly_the_seeds_errors(seed_check: Checked) -> None:
    assert seed_check.returncode == 1, seed_check.stderr
    expected = set().union(*SEED_FINDINGS.values())
    assert seed_check.pairs() == expected, json.dumps(seed_check.errors, indent=1)
    assert seed_check.report["counts"]["error"] == len(seed_check.errors)
    names = {f["attribute"] for f in seed_check.errors if f["resource"] == "aws_db_instance.main"}
    assert {"identifier", "final_snapshot_identifier", "multi_az", "publicly_accessible"} <= names


def test_findings_point_at_the_plan_and_the_resource_address(plans: dict[str, Planned], seed_check: Checked) -> None:
    path = plans["seed_defects"].plan_json
    assert seed_check.report["files"] == [str(path)]
    bucket = next(f for f in seed_check.errors if f["resource"] == "aws_s3_bucket.transaction_logs")
    assert bucket["check_id"] == "PF101" and bucket["attribute"] == "bucket"
    assert bucket["location"] == "aws_s3_bucket.transaction_logs"  # for a plan, the address is where the fix goes
    assert bucket["file"] == str(path)
    assert "payment-transaction-logs-dev" in bucket["message"] and SUFFIX in bucket["message"]


def test_the_backend_is_read_from_init_s_record_without_its_credentials(
    plans: dict[str, Planned], seed_check: Checked
) -> None:
    """Seed defect 1 through the backend `terraform init` recorded: the bucket and the lock table both named
    without the suffix; the record also holds the keys and endpoints init was given, which no report shows."""
    backend = {f["attribute"]: f for f in seed_check.errors if f["resource"] == "terraform.backend.s3"}
    assert set(backend) == {"bucket", "dynamodb_table"}
    assert "terraform-state-payment-processing" in backend["bucket"]["message"]
    recorded = (plans["seed_defects"].folder / ".terraform" / "terraform.tfstate").read_text()
    assert EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"] in recorded, "the record holds the init's secret key"
    for fmt in ("json", "sarif", "text"):
        shown = payments("check", "--format", fmt, str(plans["seed_defects"].plan_json))
        assert shown.returncode == 1
        assert EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in shown.stdout + shown.stderr, fmt
        assert "secret_key" not in shown.stdout + shown.stderr, fmt
    # Without the record (the plan JSON moved elsewhere) defect 1 is simply not visible, and nothing fails.
    moved = plans["seed_defects"].folder.parent / "moved-plan.json"
    moved.write_text(plans["seed_defects"].plan_json.read_text())
    elsewhere = check(moved)
    assert not {f for f in elsewhere.pairs() if f[1].startswith("terraform.")}
    assert elsewhere.pairs() == seed_check.pairs() - SEED_FINDINGS[1]


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
