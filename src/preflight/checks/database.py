"""Class 3: RDS instances must say, explicitly and safely, that they are private, encrypted and
multi-AZ or not (left to the defaults, AWS accepts a single-AZ production database, or a public one, without
a word), and keep their password out of the configuration."""

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
    prevents=("rds-defaults-implicit",),
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
    prevents=("rds-defaults-implicit",),
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
    prevents=("rds-defaults-implicit",),
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
#: The attributes of a database or proxy that are a host to connect to: a function whose environment names
#: one connects there (naming the master user secret of an instance does not make it connect to that instance).
HOST_ATTRIBUTES = {
    "aws_db_instance": ("address", "endpoint"),
    "aws_db_proxy": ("endpoint",),
    "aws_db_proxy_endpoint": ("endpoint",),
}
#: RDS Proxy's MaxConnectionsPercent when the target group leaves it unset.
PROXY_DEFAULT_MAX_CONNECTIONS_PERCENT = 100


def _max_connections(config: Configuration, db: Resource) -> int | None:
    """The instance's max_connections when its parameter group (in this configuration) sets it literally."""
    for group, _ in config.referenced(db.get("parameter_group_name"), "aws_db_parameter_group"):
        for parameter in group.blocks("parameter"):
            if parameter.get("name") == "max_connections" and str(parameter.get("value", "")).isdigit():
                return int(parameter["value"])
    return None


def _connecting(config: Configuration, functions: list[Resource], *targets: Resource) -> list[Resource]:
    """The functions whose environment names the host of one of ``targets``."""
    addresses = {t.address: HOST_ATTRIBUTES[t.type] for t in targets}
    return [
        function
        for function in functions
        if any(
            resource.address in addresses and attribute.split(".")[0] in addresses[resource.address]
            for resource, attribute in config.referenced(function.block("environment").get("variables", {}))
        )
    ]


def _names(config: Configuration, value: object, owner: Resource, attribute: str = "name") -> bool:
    """``value`` refers to ``owner`` (by reference, or as its literal ``attribute``)."""
    if any(resource.address == owner.address for resource, _ in config.referenced(value, owner.type)):
        return True
    literal = owner.get(attribute)
    return isinstance(value, str) and isinstance(literal, str) and "${" not in literal and value == literal


def _of_proxy(config: Configuration, proxy: Resource, *types: str) -> list[Resource]:
    """The resources of ``types`` whose db_proxy_name is ``proxy``'s."""
    return [r for r in config.of_type(*types) if _names(config, r.get("db_proxy_name"), proxy)]


def _unbounded(users: list[Resource], target: Resource) -> Iterator[Issue]:
    """The functions among ``users`` without a literal, non-negative reserved concurrency."""
    for function in users:
        value = function.get("reserved_concurrent_executions")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            yield Issue(
                function.address,
                "reserved_concurrent_executions",
                f"connects to {target.address} with unbounded concurrency: one connection per execution environment",
            )


def _total(users: list[Resource]) -> tuple[int, str]:
    """The bounded ``users``' connections together, and who they are (for messages)."""
    names = ", ".join(f"{f.address} ({f.get('reserved_concurrent_executions')})" for f in users)
    return sum(int(f.get("reserved_concurrent_executions")) for f in users), names


@check(
    "PF305",
    title="Functions' concurrency can open more connections than the database (or its proxy) admits",
    severity=Severity.ERROR,
    defect_class=3,
    rationale=(
        "Each Lambda execution environment holds its own database connection. Unbounded or oversized concurrency "
        "under load opens more than max_connections, and PostgreSQL answers every further login with 'FATAL: "
        "sorry, too many clients already' (or 'remaining connection slots are reserved'): payments fail exactly "
        "when traffic peaks, and the operator cannot even connect to see why. Through an RDS Proxy the limit is "
        "the proxy's pool, max_connections_percent of the instance's max_connections: a client whose session is "
        "pinned (SET, set_config, advisory locks) keeps a pooled connection to itself, and once the pool is taken "
        "the proxy makes the next one wait connection_borrow_timeout, then refuses it."
    ),
    fix="set reserved_concurrent_executions on every function that connects, and max_connections in the "
    "database's parameter group (and max_connections_percent in the proxy's default target group), so that the "
    "sum fits with room for RDS and an operator",
)
def concurrency_exceeds_connections(config: Configuration) -> Iterator[Issue]:
    """Functions whose DB_HOST is an instance's address, or an RDS Proxy's endpoint: their reserved concurrency
    must fit the proxy's pool to the instance, and everything that connects to an instance (functions directly,
    the pools of its proxies) its max_connections less the reserved ones."""
    functions = list(config.of_type("aws_lambda_function"))
    limits: dict[str, int | None] = {}  # max_connections by instance, once each is looked at
    # Connections the proxies in front of an instance may open to it for their functions: (proxy, count).
    pooled: dict[str, list[tuple[str, int]]] = {}

    def limit_of(db: Resource) -> tuple[int | None, list[Issue]]:
        """The instance's max_connections, and the issue that it has none (the first time only)."""
        if db.address in limits:
            return limits[db.address], []
        limit = limits[db.address] = _max_connections(config, db)
        if limit is not None:
            return limit, []
        return None, [
            Issue(
                db.address,
                "parameter_group_name",
                "max_connections is not set in the instance's parameter group: the functions' connections cannot "
                "be checked against it",
            )
        ]

    for proxy in config.of_type("aws_db_proxy"):
        users = _connecting(config, functions, proxy, *_of_proxy(config, proxy, "aws_db_proxy_endpoint"))
        if not users:
            continue
        unbounded = list(_unbounded(users, proxy))
        yield from unbounded
        instances = [
            db
            for target in _of_proxy(config, proxy, "aws_db_proxy_target")
            for db in config.of_type("aws_db_instance")
            if _names(config, target.get("db_instance_identifier"), db, "identifier")
        ]
        if not instances:
            yield Issue(
                proxy.address,
                "",
                "no aws_db_proxy_target in this configuration names the instance behind the proxy: the functions' "
                "connections cannot be checked against its pool",
            )
            continue
        groups = _of_proxy(config, proxy, "aws_db_proxy_default_target_group")
        where = groups[0].address if groups else proxy.address
        percent = groups[0].block("connection_pool_config").get("max_connections_percent") if groups else None
        if percent is None:
            percent = PROXY_DEFAULT_MAX_CONNECTIONS_PERCENT
        if not isinstance(percent, int) or isinstance(percent, bool):
            yield Issue(
                where,
                "connection_pool_config.max_connections_percent",
                f"max_connections_percent is {percent!r}, not a literal number: the pool cannot be checked",
            )
            continue
        for db in instances:
            limit, issues = limit_of(db)
            yield from issues
            if unbounded or limit is None:
                continue
            # The pool, and never more than the instance admits once its reserved connections are kept.
            pool = limit * percent // 100
            admitted = min(pool, limit - RESERVED_CONNECTIONS)
            total, names = _total(users)
            pooled.setdefault(db.address, []).append((proxy.address, min(pool, total)))
            if total > admitted:
                kept = f", less the {RESERVED_CONNECTIONS} kept: {admitted}" if admitted < pool else ""
                yield Issue(
                    where,
                    "connection_pool_config.max_connections_percent",
                    f"{total} connections from {names} through {proxy.address} exceed its pool to {db.address}: "
                    f"max_connections {limit} * {percent} % = {pool}{kept}",
                )

    for db in config.of_type("aws_db_instance"):
        users = _connecting(config, functions, db)
        proxies = pooled.get(db.address, [])
        if not users and len(proxies) < 2:
            continue  # a single proxy's pool is checked against the instance above
        unbounded = list(_unbounded(users, db))
        limit, issues = limit_of(db)
        yield from [*unbounded, *issues]
        if unbounded or limit is None:
            continue
        total, names = _total(users)
        through = [f"{count} through {proxy}" for proxy, count in proxies]
        if total + sum(count for _, count in proxies) > limit - RESERVED_CONNECTIONS:
            sources = ", ".join([*([f"{total} from {names}"] if users else []), *through])
            yield Issue(
                db.address,
                "max_connections",
                f"{total + sum(c for _, c in proxies)} connections ({sources}) exceed max_connections {limit} less "
                f"{RESERVED_CONNECTIONS} kept",
            )
