"""The processor's world without a deployment: what ``payments demo`` and the functional tests run on.

It stands up, on a PostgreSQL server and a moto server already running, what a deployment would
create (the admin login and database as RDS makes them, the four secrets, the transaction-log bucket, the
KMS key webhook secrets are sealed with) and then runs the admin function's setup in this process. The
three environments it returns are the ones the deployed functions get: processor, authorizer and admin.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from payments_cli.local.emulator import EMULATOR_CREDENTIALS, EMULATOR_REGION, emulator_client
from payments_cli.local.postgres import LocalPostgres
from payments_cli.local.provision import prepare_database

ADMIN_USER = "payments_admin"


@dataclass(frozen=True)
class Standalone:
    """The environments of the three functions, and the secrets' ARNs."""

    processor_env: dict[str, str]
    authorizer_env: dict[str, str]
    admin_env: dict[str, str]
    admin_secret_arn: str
    app_secret_arn: str
    auth_secret_arn: str
    pepper_secret_arn: str


def provision(postgres: LocalPostgres, endpoint: str, *, dbname: str, bucket: str, name: str) -> Standalone:
    """Create the database, secrets and bucket, then run the admin setup (migrations, roles, pepper)."""
    from payment_processor.admin import Admin
    from payment_processor.config import Settings

    admin_password = secrets.token_urlsafe(24)
    prepare_database(postgres, username=ADMIN_USER, password=admin_password, dbname=dbname)
    secretsmanager = emulator_client(endpoint, "secretsmanager")
    emulator_client(endpoint, "s3").create_bucket(Bucket=bucket)
    webhook_key = str(
        emulator_client(endpoint, "kms").create_key(Description=f"{name} webhook secrets")["KeyMetadata"]["Arn"]
    )
    sqs = emulator_client(endpoint, "sqs")
    attempts_queue, results_queue = (
        str(sqs.create_queue(QueueName=f"{name}-webhook-{purpose}")["QueueUrl"]) for purpose in ("attempts", "results")
    )

    def secret(purpose: str, value: dict[str, str] | None = None) -> str:
        extra = {"SecretString": json.dumps(value)} if value else {}
        return str(secretsmanager.create_secret(Name=f"{name}/{purpose}", **extra)["ARN"])

    admin_arn = secret("db-admin", {"username": ADMIN_USER, "password": admin_password})
    app_arn, auth_arn, pepper_arn = secret("db-app"), secret("db-auth"), secret("api-key-pepper")
    database = {
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(postgres.port),
        "DB_NAME": dbname,
        "DB_SSLMODE": "disable",
        "AWS_REGION": EMULATOR_REGION,
        "AWS_ENDPOINT_URL": endpoint,
        **EMULATOR_CREDENTIALS,
    }
    admin_env = {
        **database,
        "DB_SECRET_ARN": admin_arn,
        "APP_DB_SECRET_ARN": app_arn,
        "AUTH_DB_SECRET_ARN": auth_arn,
        "API_KEY_PEPPER_SECRET_ARN": pepper_arn,
        # Merchants' connector secrets, under this world's own prefix, sealed with its key; localstripe is on
        # this machine, over http.
        "CONNECTOR_SECRET_NAME_PREFIX": f"{name}/connectors",
        "CONNECTOR_SECRETS_KEY_ID": webhook_key,
        "CONNECTORS_ALLOW_HTTP": "true",
        # The audit log's copies, beside the transaction log's events.
        "TRANSACTION_LOG_BUCKET": bucket,
    }
    admin = Admin(Settings.from_env(admin_env), secrets_client=secretsmanager)
    try:
        admin.setup()
    finally:
        admin.close()
    return Standalone(
        processor_env={
            **database,
            "DB_SECRET_ARN": app_arn,
            "TRANSACTION_LOG_BUCKET": bucket,
            # The test mode: merchants without a connector are answered by the simulated acquirer, as in dev.
            "SIMULATED_ACQUIRER_ALLOWED": "true",
            # Webhook secrets are sealed with a key of the emulator's; receivers are on this machine.
            "WEBHOOK_SECRETS_KEY_ID": webhook_key,
            "WEBHOOKS_ALLOW_HTTP": "true",
            "WEBHOOKS_ALLOW_LOOPBACK": "true",
            # The queues between the webhook dispatcher and the courier (which the caller runs, if it wants one).
            "WEBHOOK_ATTEMPTS_QUEUE_URL": attempts_queue,
            "WEBHOOK_RESULTS_QUEUE_URL": results_queue,
        },
        authorizer_env={**database, "DB_SECRET_ARN": auth_arn, "API_KEY_PEPPER_SECRET_ARN": pepper_arn},
        admin_env=admin_env,
        admin_secret_arn=admin_arn,
        app_secret_arn=app_arn,
        auth_secret_arn=auth_arn,
        pepper_secret_arn=pepper_arn,
    )
