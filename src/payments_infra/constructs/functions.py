"""Functions: the deployment's five Lambda functions, with everything that is theirs alone: the code they run,
their log groups, their roles and the grants the data stores give those roles, the environment each is configured
with, and what invokes them besides the API (the schedule of the reconcile job, the queue that feeds the webhook
courier).

- ``processor``: the payments API behind API Gateway (``HANDLER``).
- ``reconcile``: every minute, finishes what requests left unanswered by the acquirer, cancels expired
  authorizations, drains the transaction-log outbox, dispatches webhook attempts, purges old keys.
- ``webhooks``: the webhook courier, outside the VPC, fed by SQS.
- ``authorizer``: the API Gateway request authorizer.
- ``admin``: operator-only (migrations, API keys, connectors); no route, no service may invoke it.

Functions is not a construct of its own: it makes its parts in the stack's scope, at the paths they were first
deployed at. A construct's path names its Terraform resources, so a level more would rename every function, role
and log group, and terraform would replace them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cdktn import TerraformAsset
from cdktn_aws import eventbridge, lambda_
from constructs import Construct

from payment_processor import routes
from payment_processor.webhooks.secrets import PURPOSE as WEBHOOK_SECRET_PURPOSE
from payments_infra.constructs.data_stores import DataStores
from payments_infra.constructs.database import DATABASE_NAME
from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.function import Function
from payments_infra.constructs.function_code import FunctionCode
from payments_infra.constructs.function_role import FunctionRole
from payments_infra.constructs.logs import log_group
from payments_infra.constructs.network import DB_PORT, Network
from payments_infra.constructs.policy import Grant
from payments_infra.constructs.webhook_queues import COURIER_TIMEOUT_S
from payments_infra.environments import EnvironmentConfig
from payments_infra.lambda_build import HANDLER, LambdaPackage
from payments_infra.naming import Naming

#: The CA bundle inside the zip the functions verify the database with (payment_processor.config resolves
#: it against the unpacked zip; the lambda build and the package check ship it).
RDS_CA_BUNDLE = "payment_processor/certs/rds-ca-bundle.pem"
#: The scheduled entry point (payment_processor.handler.reconcile): finishes what requests left unanswered by
#: the acquirer, cancels expired authorizations, drains the transaction-log outbox, purges old keys.
RECONCILE_HANDLER = "payment_processor.handler.reconcile"
#: The API Gateway request authorizer, and the operator-only admin function.
AUTHORIZER_HANDLER = "payment_processor.handler.authorizer"
#: The webhook courier: takes attempts from SQS, makes them from outside the VPC, sends back their results.
COURIER_HANDLER = "payment_processor.handler.send_webhooks"
#: The reconcile job's timeout: long enough for a burst of webhook attempts to drain within one run
#: (handler.WEBHOOK_DISPATCH_BUDGET_S), short of the schedule's minute.
RECONCILE_TIMEOUT_S = 55
ADMIN_HANDLER = "payment_processor.admin.handler"
#: Migrations on a fresh database take seconds; key management milliseconds.
ADMIN_TIMEOUT_S = 60
#: The preflight check the admin function is exempt from, with its reason (it must use the master login).
ADMIN_LOGIN_CHECK = "PF206"
RECONCILE_SCHEDULE = "rate(1 minute)"
#: Every function writes to its own log group, ``/aws/lambda/<its name>``.
PURPOSES = ("processor", "reconcile", "authorizer", "admin", "webhooks")


def processor_description() -> str:
    """What the processor serves, from the routes themselves (a list written by hand fell behind them)."""
    prefixes = list(dict.fromkeys("/" + route.path.split("/")[1] for route in routes.ROUTES))
    return f"Payments API: {', '.join(prefixes[:-1])} and {prefixes[-1]}"


class Functions:
    """The five functions, their code, logs, roles and grants, and their schedule and queue."""

    def __init__(
        self,
        scope: Construct,
        *,
        config: EnvironmentConfig,
        naming: Naming,
        key: EncryptionKey,
        network: Network,
        stores: DataStores,
        package: LambdaPackage,
    ) -> None:
        self._scope, self._config, self._naming, self._key, self._package = scope, config, naming, key, package
        self._network = network
        self._logs = {
            purpose: log_group(
                scope,
                f"{purpose}-logs",
                config=config,
                naming=naming,
                key=key,
                service_path="/aws/lambda",
                purpose=purpose,
            )
            for purpose in PURPOSES
        }
        roles = self._roles(stores)
        self._code = FunctionCode(
            scope,
            "function-code",
            config=config,
            naming=naming,
            key=key,
            package=package,
            asset=TerraformAsset(scope, "processor-code", path=str(package.path)),
        )
        self._create(stores, roles)
        self._feed_courier(stores, roles["webhooks"])
        self._schedule_reconcile()

    def _roles(self, stores: DataStores) -> dict[str, FunctionRole]:
        """One role per function, but the processor's and the reconcile job's, which run the same code on the same
        data. Each holds what its function's code uses, granted by the resources themselves."""
        key, queues = self._key, stores.queues
        return {
            "processor": self._role(
                "function-role",
                "processor",
                "Runs the payment processor and its reconcile job",
                logs=("processor", "reconcile"),
                grants=[
                    stores.transaction_log.grant_put_events("WriteTransactionEvents"),
                    stores.app_login.grant_read("ReadDatabaseLogin"),
                    # Merchants' acquirer credentials, this deployment's only.
                    stores.connector_secrets.grant_read("ReadConnectorSecrets"),
                    # Seals a webhook endpoint's signing secret when it is made or rolled, and opens it again for
                    # the idempotent replay of that answer (payment_processor.webhooks.secrets).
                    key.grant_use_for(
                        "SealWebhookSecrets", purpose=WEBHOOK_SECRET_PURPOSE, actions=["kms:Encrypt", "kms:Decrypt"]
                    ),
                    # The reconcile job dispatches webhook attempts and reads back what they found.
                    queues.attempts.grant_send("QueueWebhookAttempts"),
                    queues.results.grant_consume("ReadWebhookResults"),
                ],
                key_sid="UseDataKeyThroughS3AndSecretsManager",
            ),
            # The courier: outside the VPC, no database login; it opens the secrets the processor sealed (decrypt
            # only, that purpose only), takes attempts and sends back results.
            "webhooks": self._role(
                "webhooks-role",
                "webhooks",
                "Runs the webhook courier (outside the VPC)",
                logs=("webhooks",),
                grants=[
                    queues.attempts.grant_consume("TakeWebhookAttempts"),
                    queues.results.grant_send("ReturnWebhookResults"),
                    key.grant_use_for("OpenWebhookSecrets", purpose=WEBHOOK_SECRET_PURPOSE, actions=["kms:Decrypt"]),
                ],
                in_vpc=False,
            ),
            "authorizer": self._role(
                "authorizer-role",
                "authorizer",
                "Runs the API-key authorizer",
                logs=("authorizer",),
                grants=[stores.auth_login.grant_read("ReadDatabaseLogin"), stores.pepper.grant_read("ReadPepper")],
                key_sid="DecryptSecrets",
            ),
            "admin": self._role(
                "admin-role",
                "admin",
                "Runs migrations and API-key management",
                logs=("admin",),
                grants=[
                    stores.database.grant_admin_login("ReadAdminLogin"),
                    stores.app_login.grant_write("SetAppLogin"),
                    stores.auth_login.grant_write("SetAuthorizerLogin"),
                    stores.pepper.grant_write("SetPepper"),
                    stores.connector_secrets.grant_manage("ManageConnectorSecrets"),
                    stores.transaction_log.grant_put_audit("WriteAuditEntries"),
                    # The console's payment timeline lists which of the payment's events are in the bucket.
                    stores.transaction_log.grant_list_events("ListPaymentEvents"),
                ],
                key_sid="EncryptSecretsAndAuditEntries",
            ),
        }

    def _role(
        self,
        id_: str,
        purpose: str,
        description: str,
        *,
        logs: Sequence[str],
        grants: Sequence[Grant],
        key_sid: str | None = None,
        in_vpc: bool = True,
    ) -> FunctionRole:
        return FunctionRole(
            self._scope,
            id_,
            naming=self._naming,
            purpose=purpose,
            description=description,
            key=self._key,
            log_groups=[self._logs[log] for log in logs],
            grants=grants,
            key_sid=key_sid,
            in_vpc=in_vpc,
        )

    def _create(self, stores: DataStores, roles: Mapping[str, FunctionRole]) -> None:
        config, key = self._config, self._key
        # What payment_processor.config.Settings reads. AWS_REGION is set by Lambda itself and is a
        # reserved key ("InvalidParameterValueException: Lambda was unable to configure your environment
        # variables because the environment variables you have provided contains reserved keys").
        database = {
            "DB_HOST": stores.database_host,
            "DB_PORT": str(DB_PORT),
            "DB_NAME": DATABASE_NAME,
            # rds.force_ssl (and the proxy's require_tls) refuse plain connections; verify-full also proves the
            # server is the instance or its proxy, with the RDS CA certificates and the Amazon Trust Services
            # roots of RDS Proxy shipped in the zip (a man in the middle gets no password).
            "DB_SSLMODE": "verify-full",
            "DB_SSLROOTCERT": RDS_CA_BUNDLE,
            "POWERTOOLS_SERVICE_NAME": "payments",
        }
        processing = {
            **database,
            "DB_SECRET_ARN": stores.app_login.arn,
            "TRANSACTION_LOG_BUCKET": stores.transaction_log.name,
            "SIMULATED_ACQUIRER_ALLOWED": str(config.simulated_acquirer_allowed).lower(),
            # The acquirers it may call; any but the simulated one through the NAT gateway (preflight PF902
            # proves the route is there).
            "PAYMENT_CONNECTORS": ",".join(config.payment_connectors),
        }
        # What a webhook's URL may reach, for the processor (its webhook endpoints API) and the courier.
        webhook_addresses = {
            "WEBHOOKS_ALLOW_HTTP": str(config.webhooks_allow_http).lower(),
            "WEBHOOKS_ALLOW_LOOPBACK": str(config.webhooks_allow_loopback).lower(),
        }
        queues = stores.queues
        self.processor = self._function(
            "processor",
            HANDLER,
            processor_description(),
            roles["processor"],
            # The webhook endpoints API (the processor's alone): the key their secrets are sealed with.
            {**processing, "WEBHOOK_SECRETS_KEY_ID": key.arn, **webhook_addresses},
            config.processor_concurrency,
            calls_acquirers=True,
        )
        self.reconcile = self._function(
            "reconcile",
            RECONCILE_HANDLER,
            "Finishes what requests left unanswered, delivers the log and webhooks",
            roles["processor"],
            {
                **processing,
                "WEBHOOK_ATTEMPTS_QUEUE_URL": queues.attempts.url,
                "WEBHOOK_RESULTS_QUEUE_URL": queues.results.url,
            },
            config.reconcile_concurrency,
            timeout_s=RECONCILE_TIMEOUT_S,
            calls_acquirers=True,
        )
        self.courier = self._function(
            "webhooks",
            COURIER_HANDLER,
            "Delivers webhooks from outside the VPC, fed by SQS",
            roles["webhooks"],
            {
                "POWERTOOLS_SERVICE_NAME": "payments",
                "WEBHOOK_SECRETS_KEY_ID": key.arn,
                "WEBHOOK_RESULTS_QUEUE_URL": queues.results.url,
                **webhook_addresses,
            },
            config.webhook_courier_concurrency,
            timeout_s=COURIER_TIMEOUT_S,
            in_vpc=False,
        )
        self.authorizer = self._function(
            "authorizer",
            AUTHORIZER_HANDLER,
            "Checks API keys for the payments API",
            roles["authorizer"],
            {
                **database,
                "DB_SECRET_ARN": stores.auth_login.arn,
                "API_KEY_PEPPER_SECRET_ARN": stores.pepper.arn,
                "PAYMENTS_MODE": config.api_key_mode,
                "AUTH_FAILURE_LIMIT": str(config.auth_failure_limit),
                "AUTH_FAILURE_WINDOW_S": str(config.auth_failure_window_s),
            },
            config.authorizer_concurrency,
        )
        self.admin = self._function(
            "admin",
            ADMIN_HANDLER,
            "Operator-only: migrations and API keys; no route, no service may invoke it",
            roles["admin"],
            {
                **database,
                "DB_SECRET_ARN": stores.database.secret_arn,
                "APP_DB_SECRET_ARN": stores.app_login.arn,
                "AUTH_DB_SECRET_ARN": stores.auth_login.arn,
                "API_KEY_PEPPER_SECRET_ARN": stores.pepper.arn,
                "PAYMENTS_MODE": config.api_key_mode,
                # Merchants' connectors (payments connectors): where their secret keys go, and whether an
                # endpoint may be plain http.
                "CONNECTOR_SECRET_NAME_PREFIX": stores.connector_secrets.prefix,
                "CONNECTOR_SECRETS_KEY_ID": key.arn,
                "CONNECTORS_ALLOW_HTTP": str(config.connectors_allow_http).lower(),
                # Each audit-log entry is copied under audit/ (object-locked with the events in prod).
                "TRANSACTION_LOG_BUCKET": stores.transaction_log.name,
            },
            config.admin_concurrency,
            timeout_s=ADMIN_TIMEOUT_S,
        )
        self.admin.function.add_override(
            "//",
            {
                "preflight_skip": {
                    ADMIN_LOGIN_CHECK: "the admin function runs migrations and creates the application roles: "
                    "it is the one identity that must log in as the database's admin user"
                }
            },
        )

    def _function(
        self,
        id_: str,
        handler: str,
        description: str,
        role: FunctionRole,
        environment: Mapping[str, str],
        reserved_concurrency: int,
        *,
        timeout_s: int | None = None,
        calls_acquirers: bool = False,
        in_vpc: bool = True,
    ) -> Function:
        """One function, named for its id and writing to the log group of that purpose."""
        return Function(
            self._scope,
            id_,
            config=self._config,
            naming=self._naming,
            handler=handler,
            description=description,
            package=self._package,
            code=self._code,
            role=role,
            network=self._network if in_vpc else None,
            log_group=self._logs[id_],
            environment=environment,
            reserved_concurrency=reserved_concurrency,
            timeout_s=timeout_s,
            calls_acquirers=calls_acquirers,
        )

    def _feed_courier(self, stores: DataStores, role: FunctionRole) -> None:
        """The attempts queue invokes the courier (Lambda's pollers), as many at once as its concurrency."""
        lambda_.AwsEventSourceMapping(
            self._scope,
            "webhook-attempts-source",
            event_source_arn=stores.queues.attempts.arn,
            function_name=self.courier.arn,
            # Up to 10 attempts an invocation, made concurrently (a slow receiver delays no other's delivery),
            # their results sent back in one call.
            batch_size=10,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config=lambda_.AwsEventSourceMapping.ScalingConfigProperty(
                maximum_concurrency=self._config.webhook_courier_concurrency
            ),
            depends_on=[role.attachment],
        )

    def _schedule_reconcile(self) -> None:
        """Run the scheduled job every minute, so a payment left processing is settled and an event S3 refused
        is retried without new traffic."""
        naming = self._naming
        rule = eventbridge.AwsRule(
            self._scope,
            "reconcile-schedule",
            name=naming.event_rule("reconcile"),
            description=f"Finish unanswered operations, expire authorizations, deliver the log ({naming.tag})",
            schedule_expression=RECONCILE_SCHEDULE,
        )
        eventbridge.AwsTarget(self._scope, "reconcile-target", rule=rule.name, arn=self.reconcile.arn)
        lambda_.AwsPermission(
            self._scope,
            "reconcile-permission",
            statement_id="AllowEventBridgeSchedule",
            action="lambda:InvokeFunction",
            function_name=self.reconcile.function_name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
        )

    @property
    def all(self) -> tuple[Function, ...]:
        """Every function of the deployment."""
        return (self.processor, self.reconcile, self.authorizer, self.admin, self.courier)

    @property
    def unattended(self) -> tuple[Function, ...]:
        """The functions that run with no operator watching, whose errors and throttles alarm: all but the admin
        function, whose every answer its operator reads."""
        return (self.processor, self.reconcile, self.authorizer, self.courier)
