"""Session-wide fixtures: the real PostgreSQL server and moto server the functional tests use.

Both are started once per test session on random 127.0.0.1 ports and stopped at its end.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg
import pytest

from payment_processor.config import Settings
from payments_cli.local.emulator import EMULATOR_ACCOUNT, EMULATOR_CREDENTIALS, MotoServer
from payments_cli.local.postgres import LocalPostgres
from payments_cli.local.standalone import Standalone, provision
from payments_infra.lambda_build import LambdaPackage, build_lambda_package
from payments_infra.synth import AccountScope, SynthResult, synthesize
from tests.coverage_leftovers import UnreadableCoverageData
from tests.deployments import DEPLOYMENTS
from tests.tier_times import TierTimes

#: The local target (`cli`, `alpha`, `alpha_deployment`): one `payments up` per session for every tier using it.
pytest_plugins = ["tests.local_target"]

DB_NAME = "payments"
#: The application role the processor logs in as (migration 0002: "<database>_app").
DB_USER = f"{DB_NAME}_app"
BUCKET = "payment-transaction-log-test"
REGION = "us-east-1"
MERCHANT = "merch_123"


@dataclass(frozen=True)
class Services:
    """Where the session's real services are, provisioned as a deployment would be."""

    postgres: LocalPostgres
    moto: MotoServer
    world: Standalone

    @property
    def secret_arn(self) -> str:
        """The processor's login secret (the app role's)."""
        return self.world.app_secret_arn

    @property
    def db_password(self) -> str:
        """The app role's generated password (tests look for it where it must never be)."""
        return str(json.loads(self._secrets().get_secret_value(SecretId=self.secret_arn)["SecretString"])["password"])

    def settings(self, **overrides: object) -> Settings:
        """Settings the deployed processor gets, pointed at the local services."""
        base = Settings.from_env(self.world.processor_env)
        return Settings(**{**base.__dict__, "idempotency_lock_timeout_ms": 10_000, **overrides})

    def env(self) -> dict[str, str]:
        """The processor's environment variables, as deployed."""
        return dict(self.world.processor_env)

    def authorizer_env(self) -> dict[str, str]:
        """The authorizer's environment variables, as deployed."""
        return dict(self.world.authorizer_env)

    def admin_settings(self) -> Settings:
        """The admin function's settings."""
        return Settings.from_env(self.world.admin_env)

    def create_key(self, merchant: str = MERCHANT, *, read_only: bool = False) -> dict[str, Any]:
        """A new API key through the admin function's logic (its secret included)."""
        from payment_processor.admin import Admin

        admin = Admin(self.admin_settings(), secrets_client=self._secrets())
        try:
            return dict(admin.run({"action": "create_key", "merchant_id": merchant, "read_only": read_only})["key"])
        finally:
            admin.close()

    def _secrets(self) -> Any:
        return boto3.client("secretsmanager", region_name=REGION, endpoint_url=self.moto.endpoint)

    def s3(self) -> object:
        """A boto3 S3 client on the emulator."""
        return boto3.client("s3", region_name=REGION, endpoint_url=self.moto.endpoint)

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """A superuser connection to the payments database."""
        return psycopg.connect(
            f"host=127.0.0.1 port={self.postgres.port} user=postgres dbname={DB_NAME}", autocommit=True
        )


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """Start PostgreSQL and moto; provision the database, roles, secrets and bucket as a deployment does."""
    for key, value in EMULATOR_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    postgres = LocalPostgres(tmp_path_factory.mktemp("pg") / "data")
    postgres.init()
    postgres.start()
    moto = MotoServer(log_path=tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        moto.start()
        world = provision(postgres, moto.endpoint, dbname=DB_NAME, bucket=BUCKET, name="payments-test")
        yield Services(postgres, moto, world)
    finally:
        moto.stop()
        postgres.stop()


@pytest.fixture(scope="session")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> LambdaPackage:
    """The real Lambda package, built once per session from this checkout."""
    return build_lambda_package(tmp_path_factory.mktemp("build") / "payment_processor.zip")


@pytest.fixture
def clean(services: Services) -> Services:
    """Empty tables and bucket before a functional test."""
    with services.admin() as conn:
        conn.execute(
            "TRUNCATE transaction_log_outbox, idempotency_keys, payment_actions, refunds, payment_attempts, payments, "
            "api_keys, webhook_attempts, webhook_deliveries, webhook_endpoints, merchant_connectors, "
            "failed_authentications"
        )
    secrets = services._secrets()
    prefix = services.admin_settings().connector_secrets_prefix
    for secret in secrets.list_secrets(Filters=[{"Key": "name", "Values": [f"{prefix}/"]}])["SecretList"]:
        secrets.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)
    s3 = services.s3()
    listed = s3.list_object_versions(Bucket=BUCKET)  # type: ignore[attr-defined]
    for version in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
        s3.delete_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])  # type: ignore[attr-defined]
    return services


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory, lambda_zip: LambdaPackage) -> SynthResult:
    """Every deployment of tests.deployments.DEPLOYMENTS and their account stack, synthesized once from the session's
    real Lambda zip."""
    out = tmp_path_factory.mktemp("cdktf") / "cdktf.out"
    return synthesize(DEPLOYMENTS, out=out, package=lambda_zip, account=AccountScope(EMULATOR_ACCOUNT))


def pytest_configure(config: pytest.Config) -> None:
    """Each tier's wall time at the end of the run (tests/tier_times.py); coverage data files killed children left
    unreadable dropped before they are combined (tests/coverage_leftovers.py)."""
    config.pluginmanager.register(TierTimes(), "tier-times")
    config.pluginmanager.register(UnreadableCoverageData(), "unreadable-coverage-data")
