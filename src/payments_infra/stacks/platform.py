"""The platform stack: everything one deployment (environment + suffix) runs on."""

from __future__ import annotations

from cdktn import TerraformAsset, TerraformOutput, TerraformStack
from cdktn_aws import eventbridge, lambda_
from constructs import Construct

from payment_processor.webhooks.secrets import PURPOSE as WEBHOOK_SECRET_PURPOSE
from payments_infra.constructs.admin_trail import AdminInvokeTrail
from payments_infra.constructs.api import PaymentsApi
from payments_infra.constructs.connector_secrets import ConnectorSecrets
from payments_infra.constructs.database import DATABASE_NAME, Database
from payments_infra.constructs.database_proxy import DatabaseProxy, ProxyLogin
from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.function import Function
from payments_infra.constructs.function_code import FunctionCode
from payments_infra.constructs.function_role import FunctionRole
from payments_infra.constructs.logs import log_group
from payments_infra.constructs.monitoring import Monitoring
from payments_infra.constructs.network import DB_PORT, Network
from payments_infra.constructs.rate_limit import CredentialRateLimit
from payments_infra.constructs.secret import Secret
from payments_infra.constructs.state_backend import use_state_backend
from payments_infra.constructs.transaction_log import TransactionLogBucket
from payments_infra.constructs.webhook_queues import COURIER_TIMEOUT_S, WebhookQueues
from payments_infra.environments import EnvironmentConfig
from payments_infra.lambda_build import HANDLER, LambdaPackage
from payments_infra.naming import Naming
from payments_infra.stacks.provider import aws_provider

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


def platform_stack_name(naming: Naming) -> str:
    """``payments-<env>-<suffix>``: the folder under ``stacks/``."""
    return f"payments-{naming.tag}"


class PlatformStack(TerraformStack):
    """Network, key, database, transaction log, role, functions, API, monitoring and state backend."""

    def __init__(self, scope: Construct, *, config: EnvironmentConfig, naming: Naming, package: LambdaPackage) -> None:
        super().__init__(scope, platform_stack_name(naming))
        aws_provider(self, config=config, naming=naming)
        use_state_backend(self, config=config, naming=naming)

        network = Network(self, "network", config=config, naming=naming)
        key = EncryptionKey(self, "encryption", config=config, naming=naming)
        database = Database(self, "database", config=config, naming=naming, network=network, key=key)
        transaction_log = TransactionLogBucket(self, "transaction-log", config=config, naming=naming, key=key)

        # The application's logins and the API-key pepper: created empty, filled by the admin function.
        app_login = Secret(
            self,
            "app-login",
            config=config,
            naming=naming,
            key=key,
            purpose="db-app",
            description="Database login of the processor (role <database>_app)",
        )
        auth_login = Secret(
            self,
            "auth-login",
            config=config,
            naming=naming,
            key=key,
            purpose="db-auth",
            description="Database login of the API authorizer (role <database>_auth)",
        )
        pepper = Secret(
            self,
            "api-key-pepper",
            config=config,
            naming=naming,
            key=key,
            purpose="api-key-pepper",
            description="Pepper of the API keys' stored hashes",
        )
        logs = {
            purpose: log_group(
                self,
                f"{purpose}-logs",
                config=config,
                naming=naming,
                key=key,
                service_path="/aws/lambda",
                purpose=purpose,
            )
            for purpose in ("processor", "reconcile", "authorizer", "admin", "webhooks")
        }
        queues = WebhookQueues(self, "webhook-queues", config=config, naming=naming)
        connector_secrets = ConnectorSecrets(self, "connector-secrets", naming=naming, key=key)
        # The processor and the reconcile job run the same code on the same data: one role.
        processor_role = FunctionRole(
            self,
            "function-role",
            naming=naming,
            purpose="processor",
            description="Runs the payment processor and its reconcile job",
            key=key,
            log_groups=[logs["processor"], logs["reconcile"]],
            grants=[
                transaction_log.grant_put_events("WriteTransactionEvents"),
                app_login.grant_read("ReadDatabaseLogin"),
                # Merchants' acquirer credentials, this deployment's only.
                connector_secrets.grant_read("ReadConnectorSecrets"),
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
        )
        # The courier: outside the VPC, no database login; it opens the secrets the processor sealed (decrypt
        # only, that purpose only), takes attempts and sends back results.
        courier_role = FunctionRole(
            self,
            "webhooks-role",
            naming=naming,
            purpose="webhooks",
            description="Runs the webhook courier (outside the VPC)",
            key=key,
            log_groups=[logs["webhooks"]],
            grants=[
                queues.attempts.grant_consume("TakeWebhookAttempts"),
                queues.results.grant_send("ReturnWebhookResults"),
                key.grant_use_for("OpenWebhookSecrets", purpose=WEBHOOK_SECRET_PURPOSE, actions=["kms:Decrypt"]),
            ],
            in_vpc=False,
        )
        authorizer_role = FunctionRole(
            self,
            "authorizer-role",
            naming=naming,
            purpose="authorizer",
            description="Runs the API-key authorizer",
            key=key,
            log_groups=[logs["authorizer"]],
            grants=[auth_login.grant_read("ReadDatabaseLogin"), pepper.grant_read("ReadPepper")],
            key_sid="DecryptSecrets",
        )
        admin_role = FunctionRole(
            self,
            "admin-role",
            naming=naming,
            purpose="admin",
            description="Runs migrations and API-key management",
            key=key,
            log_groups=[logs["admin"]],
            grants=[
                database.grant_admin_login("ReadAdminLogin"),
                app_login.grant_write("SetAppLogin"),
                auth_login.grant_write("SetAuthorizerLogin"),
                pepper.grant_write("SetPepper"),
                connector_secrets.grant_manage("ManageConnectorSecrets"),
                transaction_log.grant_put_audit("WriteAuditEntries"),
                # The console's payment timeline lists which of the payment's events are in the bucket.
                transaction_log.grant_list_events("ListPaymentEvents"),
            ],
            key_sid="EncryptSecretsAndAuditEntries",
        )
        # Where the environment has one, every function reaches the database through its proxy, which logs in
        # with the same three logins they use (the admin's, the processor's, the authorizer's).
        proxy = (
            DatabaseProxy(
                self,
                "database-proxy",
                proxy=config.proxy,
                naming=naming,
                network=network,
                database=database,
                logins=[
                    ProxyLogin(
                        "Admin: RDS master user", database.secret_arn, database.grant_admin_login("ReadAdminLogin")
                    ),
                    ProxyLogin("Processor: role <database>_app", app_login.arn, app_login.grant_read("ReadAppLogin")),
                    ProxyLogin(
                        "Authorizer: role <database>_auth", auth_login.arn, auth_login.grant_read("ReadAuthorizerLogin")
                    ),
                ],
            )
            if config.proxy
            else None
        )
        code = FunctionCode(
            self,
            "function-code",
            config=config,
            naming=naming,
            key=key,
            package=package,
            asset=TerraformAsset(self, "processor-code", path=str(package.path)),
        )
        # What payment_processor.config.Settings reads. AWS_REGION is set by Lambda itself and is a
        # reserved key ("InvalidParameterValueException: Lambda was unable to configure your environment
        # variables because the environment variables you have provided contains reserved keys").
        database_environment = {
            "DB_HOST": proxy.endpoint if proxy else database.address,
            "DB_PORT": str(DB_PORT),
            "DB_NAME": DATABASE_NAME,
            # rds.force_ssl (and the proxy's require_tls) refuse plain connections; verify-full also proves the
            # server is the instance or its proxy, with the RDS CA certificates and the Amazon Trust Services
            # roots of RDS Proxy shipped in the zip (a man in the middle gets no password).
            "DB_SSLMODE": "verify-full",
            "DB_SSLROOTCERT": RDS_CA_BUNDLE,
            "POWERTOOLS_SERVICE_NAME": "payments",
        }
        processor_environment = {
            **database_environment,
            "DB_SECRET_ARN": app_login.arn,
            "TRANSACTION_LOG_BUCKET": transaction_log.name,
            "SIMULATED_ACQUIRER_ALLOWED": str(config.simulated_acquirer_allowed).lower(),
            # The acquirers it may call; any but the simulated one through the NAT gateway (preflight PF902
            # proves the route is there).
            "PAYMENT_CONNECTORS": ",".join(config.payment_connectors),
        }
        # The webhook endpoints API (the processor's alone): the key their secrets are sealed with, and what
        # their URLs may reach.
        webhook_environment = {
            "WEBHOOK_SECRETS_KEY_ID": key.arn,
            "WEBHOOKS_ALLOW_HTTP": str(config.webhooks_allow_http).lower(),
            "WEBHOOKS_ALLOW_LOOPBACK": str(config.webhooks_allow_loopback).lower(),
        }
        common = {"config": config, "package": package, "code": code, "network": network}
        processor = Function(
            self,
            "processor",
            naming=naming,
            handler=HANDLER,
            description="Payments API: POST /payments, GET /payments/{id}",
            role=processor_role,
            log_group=logs["processor"],
            environment={**processor_environment, **webhook_environment},
            reserved_concurrency=config.processor_concurrency,
            calls_acquirers=True,
            **common,  # type: ignore[arg-type]
        )
        reconcile = Function(
            self,
            "reconcile",
            naming=naming,
            handler=RECONCILE_HANDLER,
            description="Finishes what requests left unanswered, delivers the log and webhooks",
            role=processor_role,
            log_group=logs["reconcile"],
            environment={
                **processor_environment,
                "WEBHOOK_ATTEMPTS_QUEUE_URL": queues.attempts.url,
                "WEBHOOK_RESULTS_QUEUE_URL": queues.results.url,
            },
            reserved_concurrency=config.reconcile_concurrency,
            timeout_s=RECONCILE_TIMEOUT_S,
            calls_acquirers=True,
            **common,  # type: ignore[arg-type]
        )
        courier = Function(
            self,
            "webhooks",
            naming=naming,
            handler=COURIER_HANDLER,
            description="Delivers webhooks from outside the VPC, fed by SQS",
            role=courier_role,
            log_group=logs["webhooks"],
            environment={
                "POWERTOOLS_SERVICE_NAME": "payments",
                "WEBHOOK_SECRETS_KEY_ID": key.arn,
                "WEBHOOK_RESULTS_QUEUE_URL": queues.results.url,
                "WEBHOOKS_ALLOW_HTTP": str(config.webhooks_allow_http).lower(),
                "WEBHOOKS_ALLOW_LOOPBACK": str(config.webhooks_allow_loopback).lower(),
            },
            reserved_concurrency=config.webhook_courier_concurrency,
            timeout_s=COURIER_TIMEOUT_S,
            config=config,
            package=package,
            code=code,
            network=None,
        )
        lambda_.AwsEventSourceMapping(
            self,
            "webhook-attempts-source",
            event_source_arn=queues.attempts.arn,
            function_name=courier.arn,
            # Up to 10 attempts an invocation, made concurrently (a slow receiver delays no other's delivery),
            # their results sent back in one call.
            batch_size=10,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config=lambda_.AwsEventSourceMapping.ScalingConfigProperty(
                maximum_concurrency=config.webhook_courier_concurrency
            ),
            depends_on=[courier_role.attachment],
        )
        authorizer = Function(
            self,
            "authorizer",
            naming=naming,
            handler=AUTHORIZER_HANDLER,
            description="Checks API keys for the payments API",
            role=authorizer_role,
            log_group=logs["authorizer"],
            environment={
                **database_environment,
                "DB_SECRET_ARN": auth_login.arn,
                "API_KEY_PEPPER_SECRET_ARN": pepper.arn,
                "PAYMENTS_MODE": config.api_key_mode,
                "AUTH_FAILURE_LIMIT": str(config.auth_failure_limit),
                "AUTH_FAILURE_WINDOW_S": str(config.auth_failure_window_s),
            },
            reserved_concurrency=config.authorizer_concurrency,
            **common,  # type: ignore[arg-type]
        )
        admin = Function(
            self,
            "admin",
            naming=naming,
            handler=ADMIN_HANDLER,
            description="Operator-only: migrations and API keys; no route, no service may invoke it",
            role=admin_role,
            log_group=logs["admin"],
            environment={
                **database_environment,
                "DB_SECRET_ARN": database.secret_arn,
                "APP_DB_SECRET_ARN": app_login.arn,
                "AUTH_DB_SECRET_ARN": auth_login.arn,
                "API_KEY_PEPPER_SECRET_ARN": pepper.arn,
                "PAYMENTS_MODE": config.api_key_mode,
                # Merchants' connectors (payments connectors): where their secret keys go, and whether an
                # endpoint may be plain http.
                "CONNECTOR_SECRET_NAME_PREFIX": connector_secrets.prefix,
                "CONNECTOR_SECRETS_KEY_ID": key.arn,
                "CONNECTORS_ALLOW_HTTP": str(config.connectors_allow_http).lower(),
                # Each audit-log entry is copied under audit/ (object-locked with the events in prod).
                "TRANSACTION_LOG_BUCKET": transaction_log.name,
            },
            reserved_concurrency=config.admin_concurrency,
            timeout_s=ADMIN_TIMEOUT_S,
            **common,  # type: ignore[arg-type]
        )
        admin.function.add_override(
            "//",
            {
                "preflight_skip": {
                    ADMIN_LOGIN_CHECK: "the admin function runs migrations and creates the application roles: "
                    "it is the one identity that must log in as the database's admin user"
                }
            },
        )
        self._schedule_reconcile(naming, reconcile)
        api = PaymentsApi(self, "api", config=config, naming=naming, key=key, function=processor, authorizer=authorizer)
        CredentialRateLimit(self, "rate-limit", config=config, naming=naming, stage=api.stage)
        if config.admin_invoke_trail:
            AdminInvokeTrail(
                self, "admin-trail", config=config, naming=naming, key=key, admin_function_arn=admin.function.arn
            )
        Monitoring(
            self,
            "monitoring",
            config=config,
            naming=naming,
            key=key,
            functions=[processor, reconcile, authorizer, courier],
            reconcile=reconcile,
            api=api,
            database=database,
        )

        TerraformOutput(self, "api_url", value=api.url)
        TerraformOutput(self, "rest_api_id", value=api.api.id)
        TerraformOutput(self, "stage", value=api.stage.stage_name)
        TerraformOutput(self, "function_name", value=processor.function_name)
        TerraformOutput(self, "transaction_log_bucket", value=transaction_log.name)
        TerraformOutput(self, "database_secret_arn", value=database.secret_arn)
        TerraformOutput(self, "admin_function_name", value=admin.function_name)
        TerraformOutput(self, "database_address", value=database.address)
        # Every function of the deployment: the local target runs the schedules that target these.
        TerraformOutput(
            self,
            "function_names",
            value=[f.function_name for f in (processor, reconcile, authorizer, admin, courier)],
        )
        if proxy:
            TerraformOutput(self, "database_proxy_endpoint", value=proxy.endpoint)

    def _schedule_reconcile(self, naming: Naming, reconcile: Function) -> None:
        """Run the scheduled job every minute, so a payment left processing is settled and an event S3 refused
        is retried without new traffic."""
        rule = eventbridge.AwsRule(
            self,
            "reconcile-schedule",
            name=naming.event_rule("reconcile"),
            description=f"Finish unanswered operations, expire authorizations, deliver the log ({naming.tag})",
            schedule_expression=RECONCILE_SCHEDULE,
        )
        eventbridge.AwsTarget(self, "reconcile-target", rule=rule.name, arn=reconcile.arn)
        lambda_.AwsPermission(
            self,
            "reconcile-permission",
            statement_id="AllowEventBridgeSchedule",
            action="lambda:InvokeFunction",
            function_name=reconcile.function_name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
        )
