"""Scheduled functions on the local target: what EventBridge does on AWS, done by the serving process.

The deployment's schedule rules are read back from the emulator (moto stores them but never fires them):
each enabled rule with a ``rate(...)`` expression whose target is one of the deployment's functions is
run at that rate from the deployed zip, with the event EventBridge sends. Without this, a payment left
processing by a crash would stay so locally, and an event S3 refused would wait for the next request.

One difference from AWS, on purpose: the first run comes a few seconds after the server starts (then at
the rule's rate), so whatever waited while the local target was stopped is settled right away.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from payments_cli.local.emulator import EMULATOR_ACCOUNT as ACCOUNT
from payments_cli.local.emulator import EMULATOR_REGION
from payments_cli.local.lambda_runtime.workers import FunctionRuntime

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
#: Seconds from the server's start to each schedule's first run.
FIRST_RUN_AFTER_S = 5.0


def rate_seconds(expression: str) -> float | None:
    """Seconds between runs of an EventBridge ``rate(...)`` expression; None for a cron or anything else."""
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    value, unit = int(match.group(1)), match.group(2).rstrip("s")
    return float(value * _UNIT_S[unit]) if value > 0 else None


@dataclass(frozen=True)
class Schedule:
    """One rule: run ``function`` every ``every_s`` seconds."""

    rule: str
    expression: str
    every_s: float
    function: str


def read_schedules(events: Any, functions: Iterable[str]) -> tuple[list[Schedule], list[str]]:
    """The enabled rate rules targeting any of ``functions``; and the rules targeting them that cannot run
    locally (cron expressions), so the caller can say so instead of silently skipping them."""
    wanted = set(functions)
    schedules: list[Schedule] = []
    skipped: list[str] = []
    for page in events.get_paginator("list_rules").paginate():
        for rule in page.get("Rules", []):
            expression = rule.get("ScheduleExpression")
            if not expression or rule.get("State") != "ENABLED":
                continue
            targets = events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", [])
            names = [str(t["Arn"]).rsplit(":function:", 1)[-1] for t in targets if ":function:" in str(t["Arn"])]
            for name in (n for n in names if n in wanted):
                every = rate_seconds(expression)
                if every is None:
                    skipped.append(f"{rule['Name']} ({expression})")
                else:
                    schedules.append(Schedule(rule["Name"], expression, every, name))
    return schedules, skipped


def scheduled_event(schedule: Schedule) -> dict[str, Any]:
    """The event EventBridge sends a scheduled rule's target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": EMULATOR_REGION,
        "resources": [f"arn:aws:events:{EMULATOR_REGION}:{ACCOUNT}:rule/{schedule.rule}"],
        "detail": {},
    }


class Scheduler:
    """Runs each schedule on its own thread until ``stop()``; a failed run is reported, never fatal."""

    def __init__(
        self,
        schedules: Iterable[Schedule],
        runtimes: dict[str, FunctionRuntime],
        *,
        report: Callable[[Schedule, dict[str, Any], float], None],
        clock: Callable[[], float] = time.monotonic,
        first_run_after_s: float = FIRST_RUN_AFTER_S,
    ) -> None:
        self._schedules = list(schedules)
        self._first_run_after_s = first_run_after_s
        self._runtimes = runtimes
        self._report = report
        self._clock = clock
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start one thread per schedule: a first run shortly after the start, then one per period."""
        for schedule in self._schedules:
            thread = threading.Thread(
                target=self._loop, args=(schedule,), name=f"schedule-{schedule.rule}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def run_once(self, schedule: Schedule) -> dict[str, Any]:
        """Invoke the schedule's function once with the event EventBridge sends; its reply."""
        started = self._clock()
        try:
            reply = self._runtimes[schedule.function].invoke(scheduled_event(schedule))
        except Exception as exc:  # noqa: BLE001 - a scheduled run must never take the server down
            reply = {"error": {"errorType": type(exc).__name__, "errorMessage": str(exc)}}
        self._report(schedule, reply, self._clock() - started)
        return reply

    def _loop(self, schedule: Schedule) -> None:
        wait = min(self._first_run_after_s, schedule.every_s)
        while not self._stopping.wait(wait):
            self.run_once(schedule)
            wait = schedule.every_s

    def stop(self) -> None:
        """Stop scheduling (a run in progress finishes on its own)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=1)

    def close(self) -> None:
        """Stop the functions' workers."""
        for runtime in self._runtimes.values():
            runtime.close()
