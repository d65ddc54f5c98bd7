"""Class 3: RDS instances must say, explicitly and safely, that they are private, encrypted and
multi-AZ or not (seed defect 4), and keep their password out of the configuration."""

from __future__ import annotations

from collections.abc import Iterator

from preflight.model import Configuration, Severity, is_literal
from preflight.registry import Issue, check

DATABASES = ("aws_db_instance", "aws_rds_cluster")


@check(
    "PF301",
    title="Database publicly accessible, or not explicitly private",
    severity=Severity.ERROR,
    defect_class=3,
    seed_defects=(4,),
    rationale=(
        "publicly_accessible=true gives the instance a public DNS name resolving to a public IP; left unset, the "
        "effective value depends on the subnet group and provider defaults, which is how a payment database ends up "
        "reachable from the internet."
    ),
    fix="set publicly_accessible = false",
)
def publicly_accessible(config: Configuration) -> Iterator[Issue]:
    """aws_db_instance without publicly_accessible = false."""
    for db in config.of_type("aws_db_instance"):
        value = db.get("publicly_accessible")
        if value is None:
            yield Issue(db.address, "publicly_accessible", "publicly_accessible is not set: the default decides")
        elif value is not False:
            yield Issue(db.address, "publicly_accessible", f"publicly_accessible is {value!r}")


@check(
    "PF302",
    title="Database multi-AZ not explicit",
    severity=Severity.ERROR,
    defect_class=3,
    seed_defects=(4,),
    rationale=(
        "Left unset, multi_az is false: production silently runs on one AZ, and switching later reboots the "
        "instance; the post-mortem's fix was to write it explicitly per environment."
    ),
    fix="set multi_az from the environment's config (true for production)",
)
def multi_az_implicit(config: Configuration) -> Iterator[Issue]:
    """aws_db_instance without an explicit multi_az."""
    for db in config.of_type("aws_db_instance"):
        if db.get("multi_az") is None:
            yield Issue(db.address, "multi_az", "multi_az is not set: the instance is single-AZ by default")


@check(
    "PF303",
    title="Database storage not encrypted",
    severity=Severity.ERROR,
    defect_class=3,
    seed_defects=(4,),
    rationale=(
        "storage_encrypted defaults to false for aws_db_instance and cannot be turned on later without a snapshot "
        "restore into a new instance; card-adjacent data at rest must be encrypted."
    ),
    fix="set storage_encrypted = true (and kms_key_id to the deployment's key)",
)
def storage_unencrypted(config: Configuration) -> Iterator[Issue]:
    """Databases without storage_encrypted = true."""
    for db in config.of_type(*DATABASES):
        if db.type == "aws_rds_cluster" and db.get("engine_mode") == "serverless":
            continue  # serverless v1 clusters are always encrypted
        value = db.get("storage_encrypted")
        if value is not True:
            yield Issue(
                db.address, "storage_encrypted", f"storage_encrypted is {'not set' if value is None else repr(value)}"
            )


@check(
    "PF304",
    title="Database password in the configuration",
    severity=Severity.ERROR,
    defect_class=3,
    rationale=(
        "A password argument is written in plain text to the Terraform state (and here, to the synthesized JSON); "
        "anyone who can read the state bucket can log in to the database."
    ),
    fix="set manage_master_user_password = true so RDS generates the password and keeps it in Secrets Manager",
)
def password_in_configuration(config: Configuration) -> Iterator[Issue]:
    """Databases with a password or master_password argument."""
    for db in config.of_type(*DATABASES):
        for argument in ("password", "master_password"):
            value = db.get(argument)
            if value is not None:
                how = "a literal" if is_literal(value) else "an expression, stored in state"
                yield Issue(db.address, argument, f"{argument} is {how}")
