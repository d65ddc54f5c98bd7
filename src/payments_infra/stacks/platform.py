"""The platform stack: everything one deployment (environment + suffix) runs on."""

from __future__ import annotations

from cdktn import TerraformAsset, TerraformOutput, TerraformStack
from cdktn_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktn_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktn_provider_aws.lambda_permission import LambdaPermission
from constructs import Construct

from payments_infra.constructs.api import PaymentsApi
from payments_infra.constructs.database import DATABASE_NAME, Database
from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.function import Function
from payments_infra.constructs.function_role import FunctionRole
from payments_infra.constructs.logs import log_group
from payments_infra.constructs.monitoring import Monitoring
from payments_infra.constructs.network import DB_PORT, Network
from payments_infra.constructs.state_backend import use_state_backend
from payments_infra.constructs.transaction_log import TransactionLogBucket
from payments_infra.environments import EnvironmentConfig
from payments_infra.lambda_build import HANDLER, LambdaPackage, check_package
from payments_infra.naming import Naming
from payments_infra.stacks.provider import aws_provider

#: The scheduled entry point that drains the transaction-log outbox (payment_processor.handler.deliver).
DELIVER_HANDLER = "payment_processor.handler.deliver"
DELIVER_SCHEDULE = "rate(1 minute)"


def platform_stack_name(naming: Naming) -> str:
    """``payments-<env>-<suffix>``: the folder under ``stacks/``."""
    return f"payments-{naming.tag}"


class PlatformStack(TerraformStack):
    """Network, key, database, transaction log, role, functions, API, monitoring and state backend."""

    def __init__(self, scope: Construct, *, config: EnvironmentConfig, naming: Naming, package: LambdaPackage) -> None:
        super().__init__(scope, platform_stack_name(naming))
        # Seed defect 8: refuse to describe a function whose code is missing or cannot load.
        check_package(package.path, HANDLER)
        check_package(package.path, DELIVER_HANDLER)
        aws_provider(self, config=config, naming=naming)
        use_state_backend(self, config=config, naming=naming)

        network = Network(self, "network", config=config, naming=naming)
        key = EncryptionKey(self, "encryption", config=config, naming=naming)
        database = Database(self, "database", config=config, naming=naming, network=network, key=key)
        transaction_log = TransactionLogBucket(self, "transaction-log", config=config, naming=naming, key=key)

        processor_logs = log_group(
            self, "processor-logs", name=naming.log_group("/aws/lambda", "processor"), config=config, key=key
        )
        deliver_logs = log_group(
            self, "deliver-logs", name=naming.log_group("/aws/lambda", "deliver"), config=config, key=key
        )
        role = FunctionRole(
            self,
            "function-role",
            naming=naming,
            key=key,
            transaction_log=transaction_log,
            database_secret_arn=database.secret_arn,
            log_groups=[processor_logs, deliver_logs],
        )
        code = TerraformAsset(self, "processor-code", path=str(package.path))
        # What payment_processor.config.Settings reads. AWS_REGION is set by Lambda itself and is a
        # reserved key ("InvalidParameterValueException: Lambda was unable to configure your environment
        # variables because the environment variables you have provided contains reserved keys").
        environment = {
            "DB_SECRET_ARN": database.secret_arn,
            "DB_HOST": database.address,
            "DB_PORT": str(DB_PORT),
            "DB_NAME": DATABASE_NAME,
            # rds.force_ssl refuses plain connections; "require" encrypts without shipping a CA bundle.
            "DB_SSLMODE": "require",
            "TRANSACTION_LOG_BUCKET": transaction_log.name,
            "POWERTOOLS_SERVICE_NAME": "payments",
        }
        common = {
            "config": config,
            "package": package,
            "code": code,
            "role": role,
            "network": network,
            "environment": environment,
        }
        processor = Function(
            self,
            "processor",
            name=naming.function("processor"),
            handler=HANDLER,
            description=f"Payments API: POST /payments, GET /payments/{{id}} ({naming.tag})",
            log_group=processor_logs,
            reserved_concurrency=config.lambda_reserved_concurrency,
            **common,  # type: ignore[arg-type]
        )
        deliver = Function(
            self,
            "deliver",
            name=naming.function("deliver"),
            handler=DELIVER_HANDLER,
            description=f"Delivers transaction-log events S3 refused earlier ({naming.tag})",
            log_group=deliver_logs,
            reserved_concurrency=None,
            **common,  # type: ignore[arg-type]
        )
        self._schedule_delivery(naming, deliver)
        api = PaymentsApi(self, "api", config=config, naming=naming, key=key, function=processor)
        Monitoring(
            self,
            "monitoring",
            config=config,
            naming=naming,
            key=key,
            functions=[processor, deliver],
            api=api,
            database=database,
        )

        TerraformOutput(self, "api_url", value=api.url)
        TerraformOutput(self, "rest_api_id", value=api.api.id)
        TerraformOutput(self, "stage", value=api.stage.stage_name)
        TerraformOutput(self, "function_name", value=processor.function_name)
        TerraformOutput(self, "transaction_log_bucket", value=transaction_log.name)
        TerraformOutput(self, "database_secret_arn", value=database.secret_arn)
        TerraformOutput(self, "database_address", value=database.address)

    def _schedule_delivery(self, naming: Naming, deliver: Function) -> None:
        """Run the outbox delivery every minute, so an event S3 refused is retried without new traffic."""
        rule = CloudwatchEventRule(
            self,
            "deliver-schedule",
            name=naming.event_rule("deliver"),
            description=f"Retry undelivered transaction-log events ({naming.tag})",
            schedule_expression=DELIVER_SCHEDULE,
        )
        CloudwatchEventTarget(self, "deliver-target", rule=rule.name, arn=deliver.arn)
        LambdaPermission(
            self,
            "deliver-permission",
            statement_id="AllowEventBridgeSchedule",
            action="lambda:InvokeFunction",
            function_name=deliver.function_name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
        )
