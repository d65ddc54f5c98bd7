"""Class 3: RDS instances must say, explicitly and safely, that they are private, encrypted and
multi-AZ or not (seed defect 4), and keep their password out of the configuration."""

from __future__ import annotations

from collections.abc import Iterator

from preflight.model import Configuration, Resource, Severity, is_literal
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


#: Connections RDS keeps for itself and an operator (payments_infra.environments.DB_RESERVED_CONNECTIONS).
RESERVED_CONNECTIONS = 10


def _max_connections(config: Configuration, db: Resource) -> int | None:
    """The instance's max_connections when its parameter group (in this configuration) sets it literally."""
    for group, _ in config.referenced(db.get("parameter_group_name"), "aws_db_parameter_group"):
        for parameter in group.blocks("parameter"):
            if parameter.get("name") == "max_connections" and str(parameter.get("value", "")).isdigit():
                return int(parameter["value"])
    return None


@check(
    "PF305",
    title="Functions' concurrency can open more connections than the database admits",
    severity=Severity.ERROR,
    defect_class=3,
    rationale=(
        "Each Lambda execution environment holds its own database connection. Unbounded or oversized concurrency "
        "under load opens more than max_connections, and PostgreSQL answers every further login with 'FATAL: "
        "sorry, too many clients already' (or 'remaining connection slots are reserved'): payments fail exactly "
        "when traffic peaks, and the operator cannot even connect to see why."
    ),
    fix="set reserved_concurrent_executions on every function that connects, and max_connections in the "
    "database's parameter group, so that the sum fits with room for RDS and an operator",
)
def concurrency_exceeds_connections(config: Configuration) -> Iterator[Issue]:
    """Functions whose DB_HOST is an instance's address: their reserved concurrency must fit its connections."""
    for db in config.of_type("aws_db_instance"):
        users = [
            function
            for function in config.of_type("aws_lambda_function")
            if any(
                resource.address == db.address
                for resource, _ in config.referenced(function.block("environment").get("variables", {}), db.type)
            )
        ]
        if not users:
            continue
        unbounded = [f for f in users if not isinstance(f.get("reserved_concurrent_executions"), int)
                     or f.get("reserved_concurrent_executions", -1) < 0]  # fmt: skip
        for function in unbounded:
            yield Issue(
                function.address,
                "reserved_concurrent_executions",
                f"connects to {db.address} with unbounded concurrency: one connection per execution environment",
            )
        limit = _max_connections(config, db)
        if limit is None:
            yield Issue(
                db.address,
                "parameter_group_name",
                "max_connections is not set in the instance's parameter group: the functions' connections cannot "
                "be checked against it",
            )
            continue
        if unbounded:
            continue
        total = sum(int(f.get("reserved_concurrent_executions")) for f in users)
        if total > limit - RESERVED_CONNECTIONS:
            names = ", ".join(f"{f.address} ({f.get('reserved_concurrent_executions')})" for f in users)
            yield Issue(
                db.address,
                "max_connections",
                f"{total} connections from {names} exceed max_connections {limit} less {RESERVED_CONNECTIONS} kept",
            )
