"""Session-wide fixtures: the real PostgreSQL server and moto server the functional tests use.

Both are started once per test session on random 127.0.0.1 ports and stopped at its end.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import psycopg
import pytest

from payment_processor.config import Settings
from payments_cli.local.emulator import EMULATOR_CREDENTIALS, MotoServer
from payments_cli.local.postgres import LocalPostgres
from payments_cli.local.provision import prepare_database
from payments_infra.lambda_build import LambdaPackage, build_lambda_package
from payments_infra.synth import SynthResult, synthesize
from tests.deployments import DEPLOYMENTS

DB_USER = "payments_app"
DB_PASSWORD = "test-only-Secr3t-value-9f2c"
DB_NAME = "payments"
BUCKET = "payment-transaction-log-test"
REGION = "us-east-1"


@dataclass(frozen=True)
class Services:
    """Where the session's real services are."""

    postgres: LocalPostgres
    moto: MotoServer
    secret_arn: str

    def settings(self, **overrides: object) -> Settings:
        """Settings a deployed function would get, pointed at the local services."""
        base = Settings(
            db_secret_arn=self.secret_arn,
            db_host="127.0.0.1",
            db_port=self.postgres.port,
            db_name=DB_NAME,
            transaction_log_bucket=BUCKET,
            db_sslmode="disable",
            aws_region=REGION,
            aws_endpoint_url=self.moto.endpoint,
            idempotency_lock_timeout_ms=10_000,
        )
        return Settings(**{**base.__dict__, **overrides})  # type: ignore[arg-type]

    def env(self) -> dict[str, str]:
        """The same, as the environment variables the function is deployed with."""
        return {
            "DB_SECRET_ARN": self.secret_arn,
            "DB_HOST": "127.0.0.1",
            "DB_PORT": str(self.postgres.port),
            "DB_NAME": DB_NAME,
            "DB_SSLMODE": "disable",
            "TRANSACTION_LOG_BUCKET": BUCKET,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.moto.endpoint,
            **EMULATOR_CREDENTIALS,
        }

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
    """Start PostgreSQL and moto, create the app role, database, bucket and secret, apply migrations."""
    for key, value in EMULATOR_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    postgres = LocalPostgres(tmp_path_factory.mktemp("pg") / "data")
    postgres.init()
    postgres.start()
    moto = MotoServer(log_path=tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        moto.start()
        prepare_database(postgres, username=DB_USER, password=DB_PASSWORD, dbname=DB_NAME)
        boto3.client("s3", region_name=REGION, endpoint_url=moto.endpoint).create_bucket(Bucket=BUCKET)
        secret = boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto.endpoint).create_secret(
            Name="payments-db-test", SecretString=json.dumps({"username": DB_USER, "password": DB_PASSWORD})
        )
        yield Services(postgres, moto, secret["ARN"])
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
        conn.execute("TRUNCATE transaction_log_outbox, idempotency_keys, payments")
    s3 = services.s3()
    listed = s3.list_object_versions(Bucket=BUCKET)  # type: ignore[attr-defined]
    for version in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
        s3.delete_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])  # type: ignore[attr-defined]
    return services


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory, lambda_zip: LambdaPackage) -> SynthResult:
    """Every deployment of tests.deployments.DEPLOYMENTS, synthesized once from the session's real Lambda zip."""
    return synthesize(DEPLOYMENTS, out=tmp_path_factory.mktemp("cdktf") / "cdktf.out", package=lambda_zip)
