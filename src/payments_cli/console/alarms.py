"""The deployment's CloudWatch alarms and their states, for the console's overview.

Read with the operator's own credentials (CloudWatch ``DescribeAlarms``), not through the admin function: alarms
are the account's, not the database's. On AWS that is the real CloudWatch in the environment's region; on the local
target the emulator holding the deployment. A deployment's alarms are those whose names end with its
``-<env>-<suffix>`` (payments_infra.naming): another deployment's never show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: The states CloudWatch gives, worst first (the page lists them in this order).
ORDER = {"ALARM": 0, "INSUFFICIENT_DATA": 1, "OK": 2}


def read_alarms(cloudwatch: Any, environment: str, suffix: str) -> list[dict[str, Any]]:
    """The deployment's metric alarms, worst state first: name, state, since when, and why."""
    tag = f"-{environment}-{suffix}"
    found: list[dict[str, Any]] = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix="payment-"):
        for alarm in page.get("MetricAlarms", []):
            name = str(alarm.get("AlarmName", ""))
            if not name.endswith(tag):
                continue
            since = alarm.get("StateUpdatedTimestamp")
            found.append(
                {
                    "name": name,
                    "state": str(alarm.get("StateValue", "")),
                    "since": since.isoformat() if hasattr(since, "isoformat") else str(since or ""),
                    "reason": str(alarm.get("StateReason", ""))[:300],
                }
            )
    return sorted(found, key=lambda a: (ORDER.get(a["state"], 3), a["name"]))


def alarm_reader(target: str, environment: str, suffix: str, profile: str | None) -> Callable[[], list[dict[str, Any]]]:
    """Where the console reads alarms from: the account (``--target aws``, the environment's region and your
    profile) or the running emulator."""

    def read() -> list[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return read_alarms(_client(), environment, suffix)
        except (BotoCoreError, ClientError) as exc:
            raise AlarmsUnavailable(str(exc)) from None

    def _client() -> Any:
        if target == "aws":
            import boto3

            from payments_infra.environments import get_environment

            session = boto3.Session(profile_name=profile) if profile else boto3.Session()
            return session.client("cloudwatch", region_name=get_environment(environment).region)
        from payments_cli.deploy.state import StateFolder
        from payments_cli.local.emulator import emulator_client
        from payments_cli.local.services import running_emulator

        emulator = running_emulator(StateFolder())
        if emulator is None:
            raise AlarmsUnavailable("the local emulator is not running: `payments up` starts it")
        return emulator_client(emulator.endpoint, "cloudwatch")

    return read


class AlarmsUnavailable(Exception):
    """The alarms could not be read; the message says why (shown on the page, the rest of it still served)."""
