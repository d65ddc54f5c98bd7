"""TLS to the database as the deployed functions use it (``DB_SSLMODE=verify-full`` with a CA bundle),
against a real PostgreSQL server with TLS on and a certificate from a CA made for this test: the right
CA and name connect, the wrong CA (the shipped RDS bundle) or the wrong name are refused."""

from __future__ import annotations

import datetime
import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from payment_processor.config import RDS_CA_BUNDLE, TASK_ROOT, Settings
from payment_processor.credentials import DatabaseCredentials, StaticCredentials
from payment_processor.store.database import Database
from payment_processor.store.interfaces import StoreUnavailable
from payments_cli.local.postgres import LocalPostgres

pytestmark = pytest.mark.functional
PASSWORD = "tls-test-password-not-a-secret"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, issuer: str, key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey, *, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        # The name the client must ask for: "localhost" only, so 127.0.0.1 is the wrong name.
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def tls_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalPostgres, Path]]:
    """A PostgreSQL server with ssl=on and a certificate for "localhost" from a CA of this test."""
    folder = tmp_path_factory.mktemp("pgtls")
    postgres = LocalPostgres(folder / "data")
    postgres.init()
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("payments test CA", "payments test CA", ca_key, ca_key, ca=True)
    server_cert = _certificate("localhost", "payments test CA", server_key, ca_key, ca=False)
    ca_path = folder / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    data = postgres.data_dir
    (data / "server.crt").write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    (data / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    os.chmod(data / "server.key", 0o600)
    if os.geteuid() == 0:  # the server runs as postgres and refuses a key it cannot own
        entry = pwd.getpwnam("postgres")
        for name in ("server.crt", "server.key"):
            os.chown(data / name, entry.pw_uid, entry.pw_gid)
    with open(data / "postgresql.conf", "a") as conf:
        conf.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
    postgres.start()
    try:
        with psycopg.connect(postgres.superuser_dsn, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE tls_app LOGIN PASSWORD '{PASSWORD}'")
        yield postgres, ca_path
    finally:
        postgres.stop()


def _database(postgres: LocalPostgres, **settings: object) -> Database:
    base = Settings(db_secret_arn="unused", db_host="localhost", db_port=postgres.port, db_name="postgres")
    return Database(
        Settings(**{**base.__dict__, **settings}),
        StaticCredentials(DatabaseCredentials("tls_app", PASSWORD)),
    )


def test_verify_full_connects_to_the_right_server_over_tls(tls_postgres: tuple[LocalPostgres, Path]) -> None:
    postgres, ca = tls_postgres
    database = _database(postgres, db_sslmode="verify-full", db_sslrootcert=str(ca))
    try:
        row = database.connection().execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    finally:
        database.close()
    assert row == (True,)


def test_another_ca_is_refused(tls_postgres: tuple[LocalPostgres, Path]) -> None:
    """The shipped RDS bundle does not vouch for this server: a server nobody vouches for gets no password."""
    postgres, _ = tls_postgres
    database = _database(postgres, db_sslmode="verify-full", db_sslrootcert=str(TASK_ROOT / RDS_CA_BUNDLE))
    with pytest.raises(StoreUnavailable, match="certificate verify failed"):
        database.connection()


def test_the_wrong_name_is_refused_by_verify_full_only(tls_postgres: tuple[LocalPostgres, Path]) -> None:
    postgres, ca = tls_postgres
    wrong_name = _database(postgres, db_host="127.0.0.1", db_sslmode="verify-full", db_sslrootcert=str(ca))
    with pytest.raises(StoreUnavailable, match="does not match host name"):
        wrong_name.connection()
    # verify-ca checks the chain but not the name: why the stacks ask for verify-full.
    chain_only = _database(postgres, db_host="127.0.0.1", db_sslmode="verify-ca", db_sslrootcert=str(ca))
    try:
        assert chain_only.connection().execute("SELECT 1").fetchone() == (1,)
    finally:
        chain_only.close()


# One of the older RDS regional roots has a serial number of zero; cryptography loads it with a warning.
@pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")
def test_the_shipped_bundle_holds_the_rds_and_rds_proxy_roots() -> None:
    bundle = (TASK_ROOT / RDS_CA_BUNDLE).read_bytes()
    certificates = x509.load_pem_x509_certificates(bundle)
    assert len(certificates) >= 100
    subjects = {c.subject.rfc4514_string() for c in certificates}
    assert any("Amazon RDS us-east-1 Root CA RSA2048 G1" in s for s in subjects)
    assert any("Amazon Root CA 1" in s for s in subjects), "RDS Proxy's certificates chain to Amazon Trust Services"
    for certificate in certificates:
        assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_a_relative_ca_bundle_is_found_in_the_package_and_a_missing_one_is_an_error() -> None:
    from payment_processor.config import ConfigError

    env = {"DB_SECRET_ARN": "a", "DB_HOST": "h", "DB_NAME": "n", "DB_SSLMODE": "verify-full"}
    settings = Settings.from_env({**env, "DB_SSLROOTCERT": RDS_CA_BUNDLE})
    assert settings.db_sslrootcert == str(TASK_ROOT / RDS_CA_BUNDLE)
    with pytest.raises(ConfigError, match="no such CA bundle"):
        Settings.from_env({**env, "DB_SSLROOTCERT": "payment_processor/certs/missing.pem"})
