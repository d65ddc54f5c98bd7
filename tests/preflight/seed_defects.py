"""The seed post-mortem's ten defects, each written into the project's own dev stack as the
earlier attempt had it (its names, its placeholder, its missing permission and triggers)."""

from __future__ import annotations

from preflight.registry import SEED_DEFECTS
from tests.preflight.mutations import Document, Mutation, drop_statement, named


def defect_1_backend_without_suffix(doc: Document) -> None:
    backend = doc["terraform"]["backend"]["s3"]
    backend["bucket"] = "terraform-state-payment-processing"
    backend["dynamodb_table"] = "terraform-state-lock"


def defect_2_secret_without_suffix(doc: Document) -> None:
    doc.setdefault("data", {}).setdefault("aws_secretsmanager_secret", {})["db_password_secret"] = {
        "name": "payment-db-password-dev"
    }


def defect_3_rds_identifier_without_suffix(doc: Document) -> None:
    _, db = named(doc, "aws_db_instance", "database/instance")
    db["identifier"] = "payment-db-dev"


def defect_4_rds_flags_not_explicit(doc: Document) -> None:
    _, db = named(doc, "aws_db_instance", "database/instance")
    del db["multi_az"]
    del db["publicly_accessible"]


def defect_5_bucket_without_suffix(doc: Document) -> None:
    _, bucket = named(doc, "aws_s3_bucket", "transaction-log/bucket")
    bucket["bucket"] = "payment-transaction-logs-dev"


def defect_6_no_grant_on_the_log_bucket(doc: Document) -> None:
    drop_statement(doc, "WriteTransactionEvents")


def defect_7_function_without_suffix(doc: Document) -> None:
    _, function = named(doc, "aws_lambda_function", "processor/function")
    function["function_name"] = "payment-processor-dev"


def defect_8_placeholder_package(doc: Document) -> None:
    for function in doc["resource"]["aws_lambda_function"].values():
        function["filename"] = "lambda-placeholder.zip"
        function["source_code_hash"] = "placeholder-hash"


def defect_9_no_permission_for_api_gateway(doc: Document) -> None:
    permissions = doc["resource"]["aws_lambda_permission"]
    for name in [n for n, p in permissions.items() if p["principal"] == "apigateway.amazonaws.com"]:
        del permissions[name]
    deployment = next(iter(doc["resource"]["aws_api_gateway_deployment"].values()))
    deployment["depends_on"] = [d for d in deployment["depends_on"] if not d.startswith("aws_lambda_permission.")]


def defect_10_deployment_without_triggers(doc: Document) -> None:
    deployment = next(iter(doc["resource"]["aws_api_gateway_deployment"].values()))
    del deployment["triggers"]
    del deployment["depends_on"]


SEED: dict[int, Mutation] = {
    1: defect_1_backend_without_suffix,
    2: defect_2_secret_without_suffix,
    3: defect_3_rds_identifier_without_suffix,
    4: defect_4_rds_flags_not_explicit,
    5: defect_5_bucket_without_suffix,
    6: defect_6_no_grant_on_the_log_bucket,
    7: defect_7_function_without_suffix,
    8: defect_8_placeholder_package,
    9: defect_9_no_permission_for_api_gateway,
    10: defect_10_deployment_without_triggers,
}
assert set(SEED) == set(SEED_DEFECTS)
