"""Reading a deployment's schedules back from the real emulator, as the local target's server does."""

from __future__ import annotations

import boto3
import pytest

from payments_cli.local.lambda_runtime.scheduler import read_schedules
from tests.conftest import REGION, Services

pytestmark = pytest.mark.functional


def test_enabled_rate_rules_targeting_the_deployments_functions_are_the_schedules(services: Services) -> None:
    events = boto3.client("events", region_name=REGION, endpoint_url=services.moto.endpoint)
    function = "arn:aws:lambda:us-east-1:123456789012:function:"
    rules = {
        "sched-deliver": ("rate(1 minute)", "ENABLED", "payment-reconcile-dev-x"),
        "sched-disabled": ("rate(1 minute)", "DISABLED", "payment-reconcile-dev-x"),
        "sched-other-deployment": ("rate(1 minute)", "ENABLED", "payment-reconcile-dev-y"),
        "sched-cron": ("cron(0 12 * * ? *)", "ENABLED", "payment-reconcile-dev-x"),
    }
    try:
        for name, (expression, state, target) in rules.items():
            events.put_rule(Name=name, ScheduleExpression=expression, State=state)
            events.put_targets(Rule=name, Targets=[{"Id": "fn", "Arn": function + target}])
        schedules, skipped = read_schedules(events, ["payment-reconcile-dev-x", "payment-processor-dev-x"])
    finally:
        for name in rules:
            events.remove_targets(Rule=name, Ids=["fn"])
            events.delete_rule(Name=name)
    assert [(s.rule, s.every_s, s.function) for s in schedules] == [("sched-deliver", 60.0, "payment-reconcile-dev-x")]
    assert skipped == ["sched-cron (cron(0 12 * * ? *))"]
