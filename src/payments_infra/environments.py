"""Environments as data: one frozen, typed config each for dev, staging and prod.

Every difference between environments lives here, visible in one table; constructs take a config
and never branch on an environment's name. Secure settings that do not vary (encryption, private
database, TLS-only buckets) are not options at all: they live in the constructs. A part an environment
may go without (the database proxy, the alarms, the transaction log's object lock) is a sub-config that is
there or None, so its settings cannot be written for an environment that does not have it.
"""

from __future__ import annotations

from dataclasses import dataclass


class UnknownEnvironment(ValueError):
    """The name is not one of the configured environments."""


@dataclass(frozen=True)
class ProxyConfig:
    """RDS Proxy in front of the instance (payments_infra.constructs.database_proxy): the functions connect to the
    proxy, and only the proxy to the instance. Its pool to the instance holds at most db_max_connections *
    max_connections_percent / 100 connections (RDS Proxy's MaxConnectionsPercent is a percentage of the instance's
    max_connections), of which it keeps up to db_max_connections * max_idle_connections_percent / 100 open while
    idle. A client waits at most borrow_timeout_s for a pooled connection before the proxy refuses it."""

    max_connections_percent: int
    max_idle_connections_percent: int
    borrow_timeout_s: int

    def __post_init__(self) -> None:
        # RDS Proxy's ranges: MaxConnectionsPercent 1..100, MaxIdleConnectionsPercent 0..MaxConnectionsPercent.
        if not 1 <= self.max_connections_percent <= 100:
            raise ValueError("the proxy's max_connections_percent is 1..100")
        if not 0 <= self.max_idle_connections_percent <= self.max_connections_percent:
            raise ValueError("the proxy's max_idle_connections_percent is 0..max_connections_percent")


@dataclass(frozen=True)
class AlarmConfig:
    """The deployment's alarms (payments_infra.constructs.monitoring) and their thresholds."""

    lambda_errors_threshold: int
    api_5xx_threshold: int
    db_cpu_percent: int
    db_free_storage_bytes: int
    # The oldest transaction-log event still waiting for S3, in seconds, before it alarms (an S3 outage,
    # or delivery not running). Dead-lettered events alarm from the first one.
    outbox_oldest_age_s: int
    # An alarm while an active API key expires within 7 days (payment_processor.service.KEY_EXPIRY_WARNING_S): a
    # merchant's integration stops at that time unless the key is rolled first.
    api_keys_expiring: bool = False


@dataclass(frozen=True)
class ObjectLock:
    """The transaction log written once: S3 Object Lock in COMPLIANCE mode, nobody (root included) can delete or
    overwrite an event for ``retention_days``."""

    retention_days: int

    def __post_init__(self) -> None:
        if self.retention_days < 1:
            raise ValueError("object lock keeps each object for retention_days >= 1")


@dataclass(frozen=True)
class EnvironmentConfig:
    """Sizes, redundancy, retention and protection of one environment."""

    name: str
    region: str
    vpc_cidr: str
    # Database (RDS PostgreSQL)
    db_instance_class: str
    db_allocated_storage_gb: int
    db_max_allocated_storage_gb: int
    db_multi_az: bool
    db_backup_retention_days: int
    db_deletion_protection: bool
    # Set explicitly in the parameter group (RDS's default depends on the instance's memory), so the
    # connection budget below is checkable.
    db_max_connections: int
    db_skip_final_snapshot: bool
    # RDS Proxy in front of the instance (ProxyConfig), or None: the functions connect to the instance directly.
    proxy: ProxyConfig | None
    # Function
    lambda_memory_mb: int
    lambda_timeout_s: int
    # Reserved concurrency of each function. Every execution environment holds one database connection,
    # so together they must fit connection_budget(): the database's max_connections less
    # DB_RESERVED_CONNECTIONS, or, through a proxy, the proxy's pool (checked below and, on the synthesized
    # stack, by preflight PF305). Each environment's figures show the sum.
    processor_concurrency: int
    authorizer_concurrency: int
    reconcile_concurrency: int
    admin_concurrency: int
    # API
    api_throttle_rate_limit: float
    api_throttle_burst_limit: int
    # Authentication. How long API Gateway caches the authorizer's answer for one key: a revoked key
    # keeps working at most this long; a longer time saves authorizer calls (database lookups).
    api_authorizer_cache_s: int
    # Which API keys the deployment takes: "live" (sk_live_/rk_live_) only where real money moves.
    api_key_mode: str
    # Per-credential rate limit at the edge (a WAF rate-based rule keyed on the Authorization header;
    # the local API server enforces the same numbers): at most this many requests per window per key.
    api_rate_limit_per_credential: int
    api_rate_limit_window_s: int
    # The bound on failed authentications per source address: WAF's rule for credentials that are not a
    # well-formed key (constructs.rate_limit), and the authorizer's for well-formed keys it looked up and refused
    # (payment_processor.failed_authentications; WAF cannot see those fail): this many in a window of this many
    # seconds, and the address's further ones are refused without a lookup until the window ends.
    auth_failure_limit: int
    auth_failure_window_s: int
    # CloudTrail data events for every invocation of the admin function (constructs.admin_trail): AWS's own
    # record of which identity ran each operator action, beside the audit log's.
    admin_invoke_trail: bool
    # Logs and the transaction log (write-once where transaction_log_lock is set)
    log_retention_days: int
    transaction_log_lock: ObjectLock | None
    transaction_log_archive_after_days: int
    bucket_force_destroy: bool
    kms_deletion_window_days: int
    # Days a deleted secret can be restored; 0 deletes at once (so a dev suffix can be recreated).
    secret_recovery_window_days: int
    # Monitoring (None: no alarms, no topic)
    alarms: AlarmConfig | None
    # Webhooks: what a merchant's endpoint URL may reach beyond public HTTPS addresses. Plain http and this
    # machine's receivers (loopback) are for dev and the local target only; staging and prod deliver to public
    # HTTPS addresses alone.
    webhooks_allow_http: bool
    webhooks_allow_loopback: bool
    # Whether a merchant with no connector is answered by the simulated acquirer (the test mode) or refused
    # (503 no_connector). Never in prod: preflight PF802.
    simulated_acquirer_allowed: bool
    # Whether a merchant's connector may call a plain-http API base (dev and the local target: localstripe on
    # 127.0.0.1); staging and prod call acquirers over https only.
    connectors_allow_http: bool
    # The acquirers the processor and the reconcile job may call (PAYMENT_CONNECTORS): a merchant's connector
    # not listed here is refused. Any but "simulated" is reached over the internet: through NAT gateways, one
    # per AZ where nat_gateways is SUBNET_COUNT (an AZ's outage leaves the other's way out), else one.
    payment_connectors: tuple[str, ...]
    nat_gateways: int
    # Webhook courier executions at once (it holds no database connection: outside the connection budget).
    # A dead receiver holds at most two of them (webhooks.dispatcher.PER_FAILING_ENDPOINT).
    webhook_courier_concurrency: int = 10

    def function_connections(self) -> int:
        """Database connections the functions can hold at once: one per execution environment."""
        return sum(
            (
                self.processor_concurrency,
                self.authorizer_concurrency,
                self.reconcile_concurrency,
                self.admin_concurrency,
            )
        )

    def proxy_pool_connections(self) -> int:
        """The most connections the proxy opens to the instance (0 without a proxy). Rounded down, as a
        budget must be: RDS Proxy never opens more than the percentage allows."""
        return self.db_max_connections * self.proxy.max_connections_percent // 100 if self.proxy else 0

    def connection_budget(self) -> int:
        """The connections the functions may hold together: through a proxy, its pool to the instance; directly,
        the instance's max_connections less DB_RESERVED_CONNECTIONS.

        Through the proxy the budget stays one pooled connection per function execution environment, though
        the proxy multiplexes: it shares a database connection between clients only between transactions and
        only while no session state pins the client to it, and the processor sets lock_timeout with
        set_config() in every payment transaction and the admin function takes an advisory lock, both of which
        RDS Proxy pins on. Counting every environment as pinned is the case in which the pool still suffices.
        """
        if self.proxy:
            return self.proxy_pool_connections()
        return self.db_max_connections - DB_RESERVED_CONNECTIONS

    def __post_init__(self) -> None:
        if not 7 <= self.kms_deletion_window_days <= 30:
            raise ValueError(f"{self.name}: KMS deletion window must be 7..30 days")
        if self.db_max_allocated_storage_gb < self.db_allocated_storage_gb:
            raise ValueError(f"{self.name}: db_max_allocated_storage_gb below db_allocated_storage_gb")
        if not 0 <= self.api_authorizer_cache_s <= 300:
            raise ValueError(f"{self.name}: API Gateway caches authorizer results for 0..300 seconds")
        if self.api_key_mode not in ("test", "live"):
            raise ValueError(f"{self.name}: api_key_mode is 'test' or 'live'")
        # WAF's rate-based rules: a limit of at least 10, windows of 60, 120, 300 or 600 seconds.
        if self.api_rate_limit_per_credential < 10 or self.api_rate_limit_window_s not in (60, 120, 300, 600):
            raise ValueError(f"{self.name}: rate limit >= 10 per window of 60, 120, 300 or 600 seconds")
        # The same numbers make WAF's per-address rule (constructs.rate_limit): WAF's bounds apply.
        if self.auth_failure_limit < 10 or self.auth_failure_window_s not in (60, 120, 300, 600):
            raise ValueError(f"{self.name}: auth failure limit >= 10 per window of 60, 120, 300 or 600 seconds")
        self._check_connection_budget()
        if not 1 <= self.nat_gateways <= 2:
            raise ValueError(f"{self.name}: nat_gateways is 1 (one AZ's) or 2 (one per AZ of the two)")
        if not self.simulated_acquirer_allowed and "simulated" in self.payment_connectors:
            raise ValueError(
                f"{self.name}: payment_connectors lists simulated where simulated_acquirer_allowed is false"
            )
        if self.secret_recovery_window_days != 0 and not 7 <= self.secret_recovery_window_days <= 30:
            raise ValueError(f"{self.name}: a secret's recovery window is 0 or 7..30 days")

    def _check_connection_budget(self) -> None:
        """The functions' connections fit what the database, or its proxy, admits; the proxy's settings are ones
        RDS Proxy accepts and leave the instance's reserved connections free."""
        if self.proxy is None:
            if self.function_connections() > self.connection_budget():
                raise ValueError(
                    f"{self.name}: the functions' reserved concurrency ({self.function_connections()} connections) "
                    f"does not fit max_connections {self.db_max_connections} less {DB_RESERVED_CONNECTIONS} reserved"
                )
            return
        # A client that waits longer than its function may run is killed mid-wait; shorter, the function gets
        # the proxy's refusal in time to answer it (503) itself (and within RDS Proxy's ConnectionBorrowTimeout
        # range, 0..3600 seconds).
        if not 0 < self.proxy.borrow_timeout_s < self.lambda_timeout_s:
            raise ValueError(f"{self.name}: the proxy's borrow_timeout_s is 1 second to less than lambda_timeout_s")
        if self.proxy_pool_connections() > self.db_max_connections - DB_RESERVED_CONNECTIONS:
            raise ValueError(
                f"{self.name}: the proxy's pool ({self.proxy_pool_connections()} connections) would take the "
                f"{DB_RESERVED_CONNECTIONS} of max_connections {self.db_max_connections} kept for RDS and an operator"
            )
        if self.function_connections() > self.connection_budget():
            raise ValueError(
                f"{self.name}: the functions' reserved concurrency ({self.function_connections()} connections) "
                f"does not fit the proxy's pool: max_connections {self.db_max_connections} * "
                f"{self.proxy.max_connections_percent} % = {self.proxy_pool_connections()} connections"
            )


#: Connections kept free for RDS itself (rdsadmin, superuser_reserved_connections) and an operator's psql.
DB_RESERVED_CONNECTIONS = 10


DEV = EnvironmentConfig(
    name="dev",
    region="us-east-1",
    vpc_cidr="10.10.0.0/16",
    db_instance_class="db.t4g.micro",
    db_allocated_storage_gb=20,
    db_max_allocated_storage_gb=50,
    db_multi_az=False,
    db_backup_retention_days=1,
    db_deletion_protection=False,
    db_max_connections=80,
    db_skip_final_snapshot=True,
    # No proxy: the functions connect to the instance directly (what the local target emulates, too).
    proxy=None,
    lambda_memory_mb=512,
    lambda_timeout_s=15,
    # db.t4g.micro (1 GiB): RDS would allow ~80; 80 - 10 reserved = 70 >= 40 + 20 + 2 + 2 = 64.
    processor_concurrency=40,
    authorizer_concurrency=20,
    reconcile_concurrency=2,
    admin_concurrency=2,
    api_throttle_rate_limit=50,
    api_throttle_burst_limit=100,
    api_authorizer_cache_s=10,
    api_key_mode="test",
    api_rate_limit_per_credential=600,
    api_rate_limit_window_s=60,
    auth_failure_limit=30,
    auth_failure_window_s=60,
    admin_invoke_trail=False,
    log_retention_days=14,
    transaction_log_lock=None,
    transaction_log_archive_after_days=30,
    bucket_force_destroy=True,
    kms_deletion_window_days=7,
    secret_recovery_window_days=0,
    alarms=None,
    webhooks_allow_http=True,
    simulated_acquirer_allowed=True,
    connectors_allow_http=True,
    payment_connectors=("stripe", "simulated"),
    nat_gateways=1,
    webhooks_allow_loopback=True,
)

STAGING = EnvironmentConfig(
    name="staging",
    region="us-east-1",
    vpc_cidr="10.20.0.0/16",
    db_instance_class="db.t4g.small",
    db_allocated_storage_gb=50,
    db_max_allocated_storage_gb=200,
    db_multi_az=False,
    db_backup_retention_days=7,
    db_deletion_protection=True,
    db_max_connections=150,
    db_skip_final_snapshot=False,
    # Through RDS Proxy. Pool: 150 max_connections * 90 % = 135 connections to the instance, which leaves
    # 150 - 135 = 15 >= 10 reserved for RDS and an operator. Functions: 80 + 40 + 2 + 2 = 124 execution
    # environments, each one proxy client connection, and each counted as holding one pooled connection
    # (pinned sessions: see connection_budget), so 124 <= 135, with 11 to spare. Idle: 150 * 45 % = 67
    # connections kept open between bursts. A client waits at most 5 s of its 15 s for one.
    proxy=ProxyConfig(max_connections_percent=90, max_idle_connections_percent=45, borrow_timeout_s=5),
    lambda_memory_mb=1024,
    lambda_timeout_s=15,
    # db.t4g.small (2 GiB): RDS would allow ~170; the proxy's 135 (above) >= 80 + 40 + 2 + 2 = 124.
    processor_concurrency=80,
    authorizer_concurrency=40,
    reconcile_concurrency=2,
    admin_concurrency=2,
    api_throttle_rate_limit=200,
    api_throttle_burst_limit=400,
    api_authorizer_cache_s=60,
    api_key_mode="test",
    api_rate_limit_per_credential=3000,
    api_rate_limit_window_s=60,
    auth_failure_limit=30,
    auth_failure_window_s=60,
    admin_invoke_trail=True,
    log_retention_days=90,
    transaction_log_lock=None,
    transaction_log_archive_after_days=90,
    bucket_force_destroy=False,
    kms_deletion_window_days=14,
    secret_recovery_window_days=7,
    alarms=AlarmConfig(
        lambda_errors_threshold=5,
        api_5xx_threshold=10,
        db_cpu_percent=80,
        db_free_storage_bytes=5 * 1024**3,
        outbox_oldest_age_s=900,
    ),
    webhooks_allow_http=False,
    simulated_acquirer_allowed=True,
    connectors_allow_http=False,
    payment_connectors=("stripe", "simulated"),
    nat_gateways=1,
    webhooks_allow_loopback=False,
)

PROD = EnvironmentConfig(
    name="prod",
    region="us-east-1",
    vpc_cidr="10.30.0.0/16",
    db_instance_class="db.r6g.large",
    db_allocated_storage_gb=100,
    db_max_allocated_storage_gb=1000,
    db_multi_az=True,
    db_backup_retention_days=35,
    db_deletion_protection=True,
    db_max_connections=1000,
    db_skip_final_snapshot=False,
    # Through RDS Proxy. Pool: 1,000 max_connections * 40 % = 400 connections to the instance (1,000 - 400 =
    # 600 >= 10 reserved). Functions: 200 + 100 + 4 + 2 = 306 execution environments, one proxy client
    # connection each, each counted as holding one pooled connection (pinned sessions: see
    # connection_budget), so 306 <= 400; the 94 to spare let concurrency grow by 30 % before the pool must.
    # The pool is not larger because every connection is a backend process on the instance. Idle:
    # 1,000 * 20 % = 200 kept open between bursts. A client waits at most 5 s of its 15 s for a connection.
    proxy=ProxyConfig(max_connections_percent=40, max_idle_connections_percent=20, borrow_timeout_s=5),
    lambda_memory_mb=1769,  # one full vCPU
    lambda_timeout_s=15,
    # db.r6g.large (16 GiB): RDS would allow ~1,700; the proxy's 400 (above) >= 200 + 100 + 4 + 2 = 306.
    processor_concurrency=200,
    authorizer_concurrency=100,
    reconcile_concurrency=4,
    admin_concurrency=2,
    api_throttle_rate_limit=1000,
    api_throttle_burst_limit=2000,
    api_authorizer_cache_s=300,
    api_key_mode="live",
    api_rate_limit_per_credential=12000,
    api_rate_limit_window_s=60,
    auth_failure_limit=20,
    auth_failure_window_s=300,
    admin_invoke_trail=True,
    log_retention_days=365,
    transaction_log_lock=ObjectLock(retention_days=2555),  # seven years of immutable transaction records
    transaction_log_archive_after_days=90,
    bucket_force_destroy=False,
    kms_deletion_window_days=30,
    secret_recovery_window_days=30,
    alarms=AlarmConfig(
        lambda_errors_threshold=1,
        api_5xx_threshold=5,
        db_cpu_percent=75,
        db_free_storage_bytes=20 * 1024**3,
        outbox_oldest_age_s=600,
        api_keys_expiring=True,
    ),
    webhooks_allow_http=False,
    simulated_acquirer_allowed=False,
    connectors_allow_http=False,
    payment_connectors=("stripe",),
    nat_gateways=2,
    webhooks_allow_loopback=False,
)

ENVIRONMENTS: dict[str, EnvironmentConfig] = {env.name: env for env in (DEV, STAGING, PROD)}


def get_environment(name: str) -> EnvironmentConfig:
    """The config named ``name``; UnknownEnvironment listing the valid names otherwise."""
    try:
        return ENVIRONMENTS[name]
    except KeyError:
        raise UnknownEnvironment(f"unknown environment {name!r}: choose one of {', '.join(ENVIRONMENTS)}") from None
