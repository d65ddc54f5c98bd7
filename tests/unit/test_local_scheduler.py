"""The local target's scheduler: rate expressions, the event it sends, and runs that fail without stopping it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from payments_cli.local.lambda_runtime.scheduler import Schedule, Scheduler, rate_seconds, scheduled_event


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60.0), ("rate(5 minutes)", 300.0), ("rate(2 hours)", 7200.0), ("rate(1 day)", 86400.0)],
)
def test_rate_expressions_give_their_period(expression: str, seconds: float) -> None:
    assert rate_seconds(expression) == seconds


@pytest.mark.parametrize("expression", ["cron(0 12 * * ? *)", "rate(0 minutes)", "rate(1 fortnight)", "rate(x)"])
def test_anything_else_has_no_period(expression: str) -> None:
    assert rate_seconds(expression) is None


class Runtime:
    """A stand-in for a function's worker pool: records events, fails when told."""

    def __init__(self, fail: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail = fail
        self.ran = threading.Event()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        self.ran.set()
        if self.fail:
            raise OSError("worker died")
        return {"result": {"delivered": 0}}


SCHEDULE = Schedule("payment-reconcile-dev-local", "rate(1 minute)", 0.05, "payment-reconcile-dev-local")


def test_each_run_gets_the_event_eventbridge_sends_and_is_reported() -> None:
    runtime = Runtime()
    reports: list[tuple[Schedule, dict[str, Any]]] = []
    scheduler = Scheduler([SCHEDULE], {SCHEDULE.function: runtime}, report=lambda s, r, _: reports.append((s, r)))  # type: ignore[dict-item]
    scheduler.start()
    try:
        assert runtime.ran.wait(5)
    finally:
        scheduler.stop()
    event = runtime.events[0]
    assert event["source"] == "aws.events" and event["detail-type"] == "Scheduled Event"
    assert event["resources"] == [f"arn:aws:events:us-east-1:123456789012:rule/{SCHEDULE.rule}"]
    assert reports[0] == (SCHEDULE, {"result": {"delivered": 0}})


def test_the_first_run_comes_soon_after_the_start_then_one_per_period() -> None:
    hourly = Schedule("hourly", "rate(1 hour)", 3600.0, "fn")
    runtime = Runtime()
    scheduler = Scheduler([hourly], {"fn": runtime}, report=lambda *_: None, first_run_after_s=0.05)  # type: ignore[dict-item]
    scheduler.start()
    try:
        assert runtime.ran.wait(5), "the first run waits seconds, not the hour"
        threading.Event().wait(0.3)
    finally:
        scheduler.stop()
    assert len(runtime.events) == 1


def test_a_failing_run_is_reported_and_the_schedule_keeps_running() -> None:
    runtime = Runtime(fail=True)
    reports: list[dict[str, Any]] = []
    scheduler = Scheduler([SCHEDULE], {SCHEDULE.function: runtime}, report=lambda _, r, __: reports.append(r))  # type: ignore[dict-item]
    scheduler.start()
    try:
        for _ in range(200):
            if len(reports) >= 2:
                break
            threading.Event().wait(0.05)
    finally:
        scheduler.stop()
    assert len(reports) >= 2, "a failed run did not stop the next one"
    assert reports[0] == {"error": {"errorType": "OSError", "errorMessage": "worker died"}}


def test_scheduled_event_names_the_rule() -> None:
    assert scheduled_event(SCHEDULE)["resources"][0].endswith(":rule/payment-reconcile-dev-local")
