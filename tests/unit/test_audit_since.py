"""`payments audit --since`: a duration back from now, or an ISO 8601 time with a zone; anything else is bad usage
with the fix in the message (argparse turns the error into exit 2)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from payments_cli.commands.audit import since


def test_a_duration_is_that_long_before_now() -> None:
    before = datetime.now(UTC)
    moment = datetime.fromisoformat(since("24h"))
    assert timedelta(hours=24) <= before - moment + timedelta(seconds=1) and moment.tzinfo is not None


def test_an_iso_time_with_its_zone_is_taken_as_written() -> None:
    assert since("2026-12-01T09:30:00+01:00") == "2026-12-01T09:30:00+01:00"
    assert since("2026-12-01T08:30:00Z") == "2026-12-01T08:30:00+00:00"


@pytest.mark.parametrize(
    ("text", "says"),
    [("2026-12-01T09:30:00", "has no time zone: add one"), ("yesterday", "neither a duration"), ("", "neither")],
)
def test_anything_else_is_refused_saying_what_to_write(text: str, says: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        since(text)
