"""Monitoring: alarms on function errors and throttles, API 5xx, database CPU and free storage, the
transaction-log outbox (the oldest undelivered event's age, dead-lettered events), payments left
processing (the oldest one's age) and, in prod, API keys expiring within 7 days, notifying an encrypted SNS
topic. Environments without alarms (dev) create none of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cdktn_aws import cloudwatch, sns
from constructs import Construct

from payments_infra.constructs.api import PaymentsApi
from payments_infra.constructs.database import Database
from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.function import Function
from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming

PERIOD_S = 300
#: Where the reconcile function publishes the outbox's and the waiting operations' health
#: (payment_processor.handler.METRICS_NAMESPACE, dimensions service = POWERTOOLS_SERVICE_NAME and function =
#: the reconcile function's name).
METRICS_NAMESPACE = "Payments/Reconcile"
SERVICE = "payments"
#: A payment still processing this long means the acquirer has stopped answering (or the job stopped
#: settling): the request path settles within its 15 s, the job within a minute of a crash. The job gives
#: up on a payment after about half an hour (payment_processor.service.MAX_ACQUIRER_ATTEMPTS).
PROCESSING_AGE_ALARM_S = 600


class Monitoring(Construct):
    """The deployment's alarms and their topic."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        naming: Naming,
        key: EncryptionKey,
        functions: Sequence[Function],
        reconcile: Function,
        api: PaymentsApi,
        database: Database,
    ) -> None:
        super().__init__(scope, id_)
        self.alarms: list[cloudwatch.AwsMetricAlarm] = []
        alarms = config.alarms
        if alarms is None:
            return
        self.topic = sns.AwsTopic(self, "alarms-topic", name=naming.topic("alarms"), kms_master_key_id=key.arn)
        self._naming = naming
        for function in functions:
            purpose = function.node.id
            self._alarm(
                f"{purpose}-errors",
                "AWS/Lambda",
                "Errors",
                {"FunctionName": function.function_name},
                "Sum",
                alarms.lambda_errors_threshold,
                "GreaterThanOrEqualToThreshold",
            )
            self._alarm(
                f"{purpose}-throttles",
                "AWS/Lambda",
                "Throttles",
                {"FunctionName": function.function_name},
                "Sum",
                1,
                "GreaterThanOrEqualToThreshold",
            )
        outbox = {"service": SERVICE, "function": reconcile.function_name}
        # No data means the reconcile job stopped reporting: as alarming as an old event.
        self._alarm(
            "outbox-oldest-age",
            METRICS_NAMESPACE,
            "OutboxOldestPendingAge",
            outbox,
            "Maximum",
            alarms.outbox_oldest_age_s,
            "GreaterThanOrEqualToThreshold",
            missing="breaching",
        )
        self._alarm(
            "outbox-dead-lettered",
            METRICS_NAMESPACE,
            "OutboxDeadLettered",
            outbox,
            "Maximum",
            1,
            "GreaterThanOrEqualToThreshold",
        )
        self._alarm(
            "processing-age",
            METRICS_NAMESPACE,
            "PaymentsOldestProcessingAge",
            outbox,
            "Maximum",
            PROCESSING_AGE_ALARM_S,
            "GreaterThanOrEqualToThreshold",
        )
        if alarms.api_keys_expiring:
            # Missing data is not breaching here: the outbox alarm already calls when the job stops reporting.
            self._alarm(
                "api-keys-expiring",
                METRICS_NAMESPACE,
                "ApiKeysExpiringSoon",
                outbox,
                "Maximum",
                1,
                "GreaterThanOrEqualToThreshold",
            )
        self._alarm(
            "api-5xx",
            "AWS/ApiGateway",
            "5XXError",
            {"ApiName": api.api.name, "Stage": api.stage.stage_name},
            "Sum",
            alarms.api_5xx_threshold,
            "GreaterThanOrEqualToThreshold",
        )
        self._alarm(
            "db-cpu",
            "AWS/RDS",
            "CPUUtilization",
            {"DBInstanceIdentifier": database.instance.identifier},
            "Average",
            alarms.db_cpu_percent,
            "GreaterThanOrEqualToThreshold",
            periods=3,
        )
        self._alarm(
            "db-free-storage",
            "AWS/RDS",
            "FreeStorageSpace",
            {"DBInstanceIdentifier": database.instance.identifier},
            "Minimum",
            alarms.db_free_storage_bytes,
            "LessThanOrEqualToThreshold",
        )

    def _alarm(
        self,
        purpose: str,
        namespace: str,
        metric: str,
        dimensions: Mapping[str, str],
        statistic: str,
        threshold: float,
        comparison: str,
        periods: int = 1,
        missing: str = "notBreaching",
    ) -> None:
        self.alarms.append(
            cloudwatch.AwsMetricAlarm(
                self,
                purpose,
                alarm_name=self._naming.alarm(purpose),
                namespace=namespace,
                metric_name=metric,
                dimensions=dict(dimensions),
                statistic=statistic,
                period=PERIOD_S,
                evaluation_periods=periods,
                threshold=threshold,
                comparison_operator=comparison,
                treat_missing_data=missing,
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
            )
        )
