"""Planning the HCL fixture projects with the real terraform against a moto server, and the catalogued deploy
failures (``preflight.failures``) as edits of the corrected project.

``plan_project`` copies a project into a scratch folder, builds its Lambda zip from ``src/`` (the project
names it ``build/processor.zip``), creates its S3 state bucket (and DynamoDB lock table, when it names one)
on the emulator, then runs ``terraform init`` with the S3 backend pointed at the emulator, ``terraform plan
-out`` and ``terraform show -json`` into ``plan.json`` beside the ``.tf`` files, where relative package paths
resolve. The project's provider is pointed at the emulator through its ``aws_endpoint`` variable.

Shared by ``tests/preflight/test_hcl_plan.py`` and ``bench/preflight_bench.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from payments_cli.local.emulator import EMULATOR_CREDENTIALS, EMULATOR_REGION, emulator_client
from payments_infra.terraform import PLUGIN_MIRROR, find_terraform, terraform_env
from preflight.failures import FAILURES

HERE = Path(__file__).resolve().parent
FIXED = HERE / "fixed"
DEPLOY_FAILURES = HERE / "deploy_failures"
#: The deployment suffix every plan is made for.
SUFFIX = "pr7"
#: The state bucket of a deployment whose backend block names none (partial configuration).
STATE_BUCKET = "terraform-state-payment-processing-{suffix}"
#: The failures preflight finds from a plan JSON: all but one in the JSON itself; the shared state bucket and
#: lock table are in no plan JSON, and preflight reads them from the backend `terraform init` recorded in
#: .terraform/ beside the plan (preflight/plan_backend.py).
VISIBLE_IN_PLAN_JSON = frozenset(FAILURES)


class PlanFailed(RuntimeError):
    """A terraform command failed while planning a fixture project."""


@dataclass(frozen=True)
class Planned:
    """A planned project: its scratch folder, the plan JSON inside it, and seconds per terraform step."""

    folder: Path
    plan_json: Path
    seconds: Mapping[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        """init + plan + show."""
        return sum(self.seconds.values())


Edit = Callable[[str], str]


def _once(old: str, new: str) -> Edit:
    """Replace text that must occur exactly once."""

    def edit(text: str) -> str:
        if text.count(old) != 1:
            raise ValueError(f"expected exactly one {old!r} in the project, found {text.count(old)}")
        return text.replace(old, new)

    return edit


def _drop(pattern: str) -> Edit:
    """Remove the one match of a regular expression (DOTALL)."""

    def edit(text: str) -> str:
        found = re.findall(pattern, text, re.S)
        if len(found) != 1:
            raise ValueError(f"expected exactly one match of {pattern!r} in the project, found {len(found)}")
        return re.sub(pattern, "", text, flags=re.S)

    return edit


_FIXED_BACKEND = (
    "  # Partial configuration: a backend block cannot read variables, so each deployment names its own state\n"
    "  # bucket at init: `terraform init -backend-config=bucket=terraform-state-payment-processing-<suffix>`.\n"
    "  # S3-native locking (a .tflock object beside the state, no shared lock table) needs Terraform >= 1.10.\n"
    '  backend "s3" {\n'
    '    key          = "payment-processing/terraform.tfstate"\n'
    '    region       = "us-east-1"\n'
    "    encrypt      = true\n"
    "    use_lockfile = true\n"
    "  }"
)
_SHARED_BACKEND = """  # deploy failure state-backend-shared: one state bucket and one lock table for every deployment.
  backend "s3" {
    bucket         = "terraform-state-payment-processing"
    key            = "payment-processing/dev/terraform.tfstate"
    region         = "us-east-1"
    dynamodb_table = "terraform-state-lock"
    encrypt        = true
  }"""

#: Each catalogued failure as it happened, written into ``fixed/main.tf`` (the edits of one failure leave the
#: project valid on their own, so the benchmark can plan them one at a time), in the catalog's order, which is
#: the order they are written in together.
DEFECTS: dict[str, tuple[Edit, ...]] = {
    "state-backend-shared": (_once(_FIXED_BACKEND, _SHARED_BACKEND),),
    "secret-not-found": (
        _once(
            '  name                    = "payment-db-password-${local.name}"',
            '  name                    = "payment-db-password-${var.environment}" # deploy failure secret-not-found',
        ),
    ),
    "db-instance-exists": (
        _once(
            '  identifier                  = "payment-db-${local.name}"',
            '  identifier                  = "payment-db-${var.environment}" # deploy failure db-instance-exists',
        ),
        _once('"payment-db-${local.name}-final"', '"payment-db-${var.environment}-final"'),
    ),
    "rds-defaults-implicit": (
        _once(
            "  multi_az                    = local.production\n  publicly_accessible         = false\n}",
            "  # deploy failure rds-defaults-implicit: multi_az and publicly_accessible left to the defaults.\n}",
        ),
    ),
    "bucket-exists": (
        _once(
            '  bucket        = "payment-transaction-logs-${local.name}"',
            '  bucket        = "payment-transaction-logs-${var.environment}" # deploy failure bucket-exists',
        ),
    ),
    "log-bucket-access-denied": (
        _drop(r"\n  statement \{\n    sid       = \"WriteTransactionEvents\".*?\n  \}"),
        _once(
            'data "aws_iam_policy_document" "processor" {\n',
            'data "aws_iam_policy_document" "processor" {\n'
            "  # deploy failure log-bucket-access-denied: no statement for the transaction-log bucket the function\n"
            "  # writes to.\n",
        ),
    ),
    "function-exists": (
        _once(
            '  function   = "payment-processor-${local.name}"',
            '  function   = "payment-processor-${var.environment}" # deploy failure function-exists',
        ),
    ),
    "placeholder-package": (
        _once(
            "  filename                       = var.lambda_package\n"
            "  source_code_hash               = filebase64sha256(var.lambda_package)",
            '  filename                       = "lambda-placeholder.zip" # deploy failure placeholder-package\n'
            '  source_code_hash               = "placeholder-hash"',
        ),
    ),
    "api-invoke-permission-missing": (
        _drop(r"# API Gateway invokes the function with the function's resource policy.*?\n}\n\n"),
        _once(
            '\nresource "aws_api_gateway_deployment"',
            "\n# deploy failure api-invoke-permission-missing: no aws_lambda_permission lets API Gateway invoke\n"
            "# the function.\n\n"
            'resource "aws_api_gateway_deployment"',
        ),
        _drop(r"\n      aws_lambda_permission\.api_create_payment\.id,"),
        _drop(r", aws_lambda_permission\.api_create_payment(?=\])"),
    ),
    "api-deployment-stale": (
        _drop(r"\n  triggers = \{\n    redeployment = .*?\n  \}"),
        _drop(r"\n  depends_on = \[aws_api_gateway_integration\.create_payment[^\]]*\]"),
        _once(
            'resource "aws_api_gateway_deployment"',
            "# deploy failure api-deployment-stale: no triggers and no depends_on: created before its integration,\n"
            "# never redeployed.\n"
            'resource "aws_api_gateway_deployment"',
        ),
    ),
}

_HEADER = _drop(r"\A.*?\n\n(?=terraform \{)")
FAILURES_HEADER = (
    "# The ten catalogued deploy failures (src/preflight/failures.py), written into a small hand-written HCL\n"
    "# payment service: the project of ../fixed/main.tf, which corrects each one, through\n"
    "# tests/preflight/hcl/planning.py's DEFECTS (a test keeps this file equal to that). Every one is marked\n"
    '# "deploy failure <slug>".\n'
    "#\n"
    "# tests/preflight/test_hcl_plan.py plans it with the real terraform against a moto server and checks\n"
    "# the plan JSON with `payments check`. `terraform show -json` writes no backend block: the shared state\n"
    "# backend is read from the backend `terraform init` recorded in .terraform/ beside the plan.\n"
    "\n"
)


def with_defects(text: str, failures: Iterable[str]) -> str:
    """``fixed/main.tf``'s text with the given failures written in (in the catalog's order)."""
    chosen = set(failures)
    for failure, edits in DEFECTS.items():
        if failure in chosen:
            for edit in edits:
                text = edit(text)
    return text


def deploy_failures_text() -> str:
    """What ``deploy_failures/main.tf`` must hold: every failure, and its own header."""
    return FAILURES_HEADER + _HEADER(with_defects((FIXED / "main.tf").read_text(), DEFECTS))


def terraform_or_reason() -> tuple[str | None, str]:
    """The terraform binary, or None and why planning cannot run here."""
    terraform = find_terraform()
    if terraform is None:
        return None, "terraform is not installed: install Terraform >= 1.10 (see README)"
    if not PLUGIN_MIRROR.is_dir():
        return None, f"the provider mirror {PLUGIN_MIRROR} is missing: terraform cannot install hashicorp/aws"
    return terraform, ""


def _backend_names(main_tf: str) -> tuple[str | None, str | None]:
    """(bucket, dynamodb_table) written in the project's backend "s3" block, None where it leaves them out."""
    block = re.search(r'backend "s3" \{(.*?)\n  \}', main_tf, re.S)
    body = block.group(1) if block else ""
    bucket = re.search(r'^\s*bucket\s*=\s*"([^"]+)"', body, re.M)
    table = re.search(r'^\s*dynamodb_table\s*=\s*"([^"]+)"', body, re.M)
    return (bucket.group(1) if bucket else None), (table.group(1) if table else None)


def _emulator_backend(endpoint: str) -> str:
    """A backend configuration file pointing the S3 backend (and its lock table) at the emulator."""
    return (
        f'endpoints = {{ s3 = "{endpoint}", dynamodb = "{endpoint}", sts = "{endpoint}" }}\n'
        "use_path_style = true\n"
        "skip_credentials_validation = true\n"
        "skip_requesting_account_id = true\n"
        "skip_metadata_api_check = true\n"
        f'access_key = "{EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"]}"\n'
        f'secret_key = "{EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}"\n'
    )


#: Plans made side by side may share a state bucket and lock table (state-backend-shared is exactly that).
_STORAGE_LOCK = threading.Lock()


def _ensure_state_storage(endpoint: str, bucket: str, table: str | None) -> None:
    """The state bucket (and lock table) a deployment bootstraps before its first init, on the emulator."""
    with _STORAGE_LOCK:
        _create_state_storage(endpoint, bucket, table)


def _create_state_storage(endpoint: str, bucket: str, table: str | None) -> None:
    s3 = emulator_client(endpoint, "s3")
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)
    if table is not None:
        dynamodb = emulator_client(endpoint, "dynamodb")
        if table not in dynamodb.list_tables()["TableNames"]:
            dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )


def build_package(folder: Path) -> Path | None:
    """``build/processor.zip`` from ``src/`` (fixed timestamps, so the same sources hash the same)."""
    source = folder / "src"
    if not source.is_dir():
        return None
    target = folder / "build" / "processor.zip"
    target.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return target


def _run(command: list[str], folder: Path, env: dict[str, str], what: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise PlanFailed(
            f"{what} failed in {folder} (exit {result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def plan_project(
    source: Path, workdir: Path, endpoint: str, *, main_tf: str | None = None, suffix: str = SUFFIX
) -> Planned:
    """Copy ``source`` to ``workdir`` (``main_tf`` replacing its main.tf when given), build its zip, and plan
    it against the emulator at ``endpoint``: ``workdir/plan.json`` is ``terraform show -json`` of the plan."""
    terraform, reason = terraform_or_reason()
    if terraform is None:
        raise PlanFailed(reason)
    shutil.copytree(source, workdir, ignore=shutil.ignore_patterns(".terraform*", "build", "*.tfstate*", "plan*"))
    if main_tf is not None:
        (workdir / "main.tf").write_text(main_tf)
    build_package(workdir)
    bucket, table = _backend_names((workdir / "main.tf").read_text())
    backend_args = ["-backend-config=emulator.s3.tfbackend"]
    if bucket is None:
        bucket = STATE_BUCKET.format(suffix=suffix)
        backend_args.append(f"-backend-config=bucket={bucket}")
    _ensure_state_storage(endpoint, bucket, table)
    (workdir / "emulator.s3.tfbackend").write_text(_emulator_backend(endpoint))
    env = terraform_env({**_base_env(), **EMULATOR_CREDENTIALS, "AWS_REGION": EMULATOR_REGION})
    seconds: dict[str, float] = {}
    steps = [
        ("init", [terraform, "init", "-input=false", "-no-color", *backend_args]),
        (
            "plan",
            [
                terraform,
                "plan",
                "-input=false",
                "-no-color",
                "-lock-timeout=120s",
                "-out=tfplan",
                f"-var=environment_suffix={suffix}",
                f"-var=aws_endpoint={endpoint}",
            ],
        ),
    ]
    for step, command in steps:
        started = time.perf_counter()
        _run(command, workdir, env, f"terraform {step}")
        seconds[step] = time.perf_counter() - started
    started = time.perf_counter()
    shown = _run([terraform, "show", "-json", "-no-color", "tfplan"], workdir, env, "terraform show -json")
    seconds["show"] = time.perf_counter() - started
    plan_json = workdir / "plan.json"
    plan_json.write_text(shown.stdout)
    return Planned(workdir, plan_json, seconds)


def _base_env() -> dict[str, str]:
    """This process's environment without AWS settings that would send terraform elsewhere."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TF_VAR_", "TF_CLI_ARGS")) and k not in ("TF_WORKSPACE", "TF_DATA_DIR")
    }
