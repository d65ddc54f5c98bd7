"""Each catalogued deploy failure (``preflight.failures``) written into the project's own dev stack as it
happened: the names without the suffix, the placeholder package, the missing grant, permission and triggers.

Shared by the preflight tests and ``bench/preflight_bench.py``.
"""

from __future__ import annotations

from preflight.failures import FAILURES
from tests.preflight.mutations import Document, Mutation, drop_statement, named


def state_backend_shared(doc: Document) -> None:
    backend = doc["terraform"]["backend"]["s3"]
    backend["bucket"] = "terraform-state-payment-processing"
    backend["dynamodb_table"] = "terraform-state-lock"


def secret_not_found(doc: Document) -> None:
    doc.setdefault("data", {}).setdefault("aws_secretsmanager_secret", {})["db_password_secret"] = {
        "name": "payment-db-password-dev"
    }


def db_instance_exists(doc: Document) -> None:
    _, db = named(doc, "aws_db_instance", "database/instance")
    db["identifier"] = "payment-db-dev"


def rds_defaults_implicit(doc: Document) -> None:
    _, db = named(doc, "aws_db_instance", "database/instance")
    del db["multi_az"]
    del db["publicly_accessible"]


def bucket_exists(doc: Document) -> None:
    _, bucket = named(doc, "aws_s3_bucket", "transaction-log/bucket")
    bucket["bucket"] = "payment-transaction-logs-dev"


def log_bucket_access_denied(doc: Document) -> None:
    drop_statement(doc, "WriteTransactionEvents")


def function_exists(doc: Document) -> None:
    _, function = named(doc, "aws_lambda_function", "processor/function")
    function["function_name"] = "payment-processor-dev"


def placeholder_package(doc: Document) -> None:
    for function in doc["resource"]["aws_lambda_function"].values():
        function["filename"] = "lambda-placeholder.zip"
        function["source_code_hash"] = "placeholder-hash"


def api_invoke_permission_missing(doc: Document) -> None:
    permissions = doc["resource"]["aws_lambda_permission"]
    for name in [n for n, p in permissions.items() if p["principal"] == "apigateway.amazonaws.com"]:
        del permissions[name]
    deployment = next(iter(doc["resource"]["aws_api_gateway_deployment"].values()))
    deployment["depends_on"] = [d for d in deployment["depends_on"] if not d.startswith("aws_lambda_permission.")]


def api_deployment_stale(doc: Document) -> None:
    deployment = next(iter(doc["resource"]["aws_api_gateway_deployment"].values()))
    del deployment["triggers"]
    del deployment["depends_on"]


#: Each failure's reproduction, by the failure's slug.
REPRODUCTIONS: dict[str, Mutation] = {
    "state-backend-shared": state_backend_shared,
    "secret-not-found": secret_not_found,
    "db-instance-exists": db_instance_exists,
    "rds-defaults-implicit": rds_defaults_implicit,
    "bucket-exists": bucket_exists,
    "log-bucket-access-denied": log_bucket_access_denied,
    "function-exists": function_exists,
    "placeholder-package": placeholder_package,
    "api-invoke-permission-missing": api_invoke_permission_missing,
    "api-deployment-stale": api_deployment_stale,
}
assert list(REPRODUCTIONS) == list(FAILURES)
