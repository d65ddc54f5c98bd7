"""Exceptions described for the log: type, SQLSTATE, a message without request data, frames only."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from aws_lambda_powertools import Logger
from psycopg import errors as pg_errors
from psycopg.pq import DiagnosticField

from payment_processor.redaction import REDACTED, describe_exception, redact_database_message

PAN = "4111111111111111"


def server_error(kind: type[psycopg.Error], **fields: str) -> psycopg.Error:
    """A psycopg error carrying diagnostics as a server sends them (the shapes seen against PostgreSQL 15)."""
    info: Any = {getattr(DiagnosticField, name.upper()): value.encode() for name, value in fields.items()}
    text = "\n".join(fields.values())  # str(exc) of a server error holds DETAIL and CONTEXT too
    return kind(text, info=info)


def raised(exc: BaseException) -> BaseException:
    """``exc`` with a traceback, as the except block in Api.handle sees it."""

    def failing_frame() -> None:
        raise exc

    try:
        failing_frame()
    except BaseException as caught:
        return caught
    raise AssertionError("failing_frame returned")


def untranslatable() -> psycopg.Error:
    """A NUL in jsonb: CONTEXT quotes the JSON sent."""
    return server_error(
        pg_errors.UntranslatableCharacter,
        sqlstate="22P05",
        message_primary="unsupported Unicode escape sequence",
        message_detail="\\u0000 cannot be converted to text.",
        context=f'JSON data, line 1: {{"note": "card {PAN} \\u0000...',
    )


def unique() -> psycopg.Error:
    """A duplicate key: DETAIL quotes the key sent."""
    return server_error(
        pg_errors.UniqueViolation,
        sqlstate="23505",
        message_primary='duplicate key value violates unique constraint "payments_pkey"',
        message_detail=f"Key (id)=({PAN}) already exists.",
        schema_name="public",
        table_name="payments",
        constraint_name="payments_pkey",
    )


def bad_input() -> psycopg.Error:
    """A bad cast: the primary message itself quotes the value sent."""
    return server_error(
        pg_errors.InvalidTextRepresentation,
        sqlstate="22P02",
        message_primary=f'invalid input syntax for type integer: "abc {PAN}"',
        context="unnamed portal parameter $1 = '...'",
    )


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            untranslatable,
            {
                "exception_type": "psycopg.errors.UntranslatableCharacter",
                "sqlstate": "22P05",
                "message": "unsupported Unicode escape sequence",
            },
        ),
        (
            unique,
            {
                "exception_type": "psycopg.errors.UniqueViolation",
                "sqlstate": "23505",
                "message": f"duplicate key value violates unique constraint {REDACTED}",
                "schema": "public",
                "table": "payments",
                "constraint": "payments_pkey",
            },
        ),
        (
            bad_input,
            {
                "exception_type": "psycopg.errors.InvalidTextRepresentation",
                "sqlstate": "22P02",
                "message": f"invalid input syntax for type integer: {REDACTED}",
            },
        ),
    ],
)
def test_database_errors_keep_state_and_primary_message_without_data(
    make: Callable[[], psycopg.Error], expected: dict[str, str]
) -> None:
    exc = make()
    assert PAN in str(exc)  # what logger.exception would have written
    description = describe_exception(raised(exc))
    assert {key: value for key, value in description.items() if key not in ("traceback",)} == expected
    text = json.dumps(description)
    assert PAN not in text and "JSON data" not in text and "Key (id)" not in text


def test_a_client_side_psycopg_error_gives_its_state_and_type_only() -> None:
    description = describe_exception(raised(pg_errors.UniqueViolation(f"Key (id)=({PAN}) already exists")))
    assert description["sqlstate"] == "23505" and description["message"] == "UniqueViolation"
    assert PAN not in json.dumps(description)


def test_a_psycopg_error_without_state_gives_its_type_only() -> None:
    description = describe_exception(raised(psycopg.OperationalError(f"connection lost during {PAN}")))
    assert description["exception_type"] == "psycopg.OperationalError" and "sqlstate" not in description
    assert description["message"] == "OperationalError" and PAN not in json.dumps(description)


def test_a_cycle_of_contexts_ends() -> None:
    first, second = ValueError("a"), KeyError("b")
    first.__context__, second.__context__ = second, first
    assert describe_exception(first)["caused_by"] == ["KeyError"]


def test_any_other_exception_gives_its_type_and_frames_only() -> None:
    description = describe_exception(raised(RuntimeError(f"card {PAN} for customer bob@example.com")))
    assert description["exception_type"] == "RuntimeError" and description["message"] == "RuntimeError"
    assert description["traceback"][-1].endswith(" in failing_frame")
    assert "test_redaction.py:" in description["traceback"][-1]
    text = json.dumps(description)
    assert PAN not in text and "bob@example.com" not in text and "card" not in text


def test_chained_exceptions_give_their_types_only() -> None:
    try:
        try:
            raise KeyError(PAN)
        except KeyError as inner:
            raise ValueError(f"bad {PAN}") from inner
    except ValueError as outer:
        description = describe_exception(outer)
    assert description["caused_by"] == ["KeyError"]
    assert PAN not in json.dumps(description)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (f'value "{PAN}" is out of range for type integer', f"value {REDACTED} is out of range for type integer"),
        ('invalid input syntax for type integer: "a"b"', f"invalid input syntax for type integer: {REDACTED}"),
        ('unterminated quoted string at or near "abc', f"unterminated quoted string at or near {REDACTED}"),
        (f"literal 'x {PAN}' here", f"literal {REDACTED} here"),
        ("amount 4111 1111 1111 1111 refused", f"amount {REDACTED} refused"),
        ("value too long for type character varying(64)", "value too long for type character varying(64)"),
        (f'first line "ok"\nsecond {PAN}', f"first line {REDACTED}"),
        ("", ""),
    ],
)
def test_redact_database_message(message: str, expected: str) -> None:
    assert redact_database_message(message) == expected


def test_the_description_logs_through_powertools_without_the_card_number() -> None:
    stream = io.StringIO()
    logger = Logger(service=f"redaction-test-{uuid.uuid4().hex}", logger_handler=logging.StreamHandler(stream))
    for exc in (unique(), untranslatable(), RuntimeError(f"card {PAN}")):
        logger.error("unhandled error", extra={"error": describe_exception(raised(exc))})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["error"]["exception_type"] for line in lines] == [
        "psycopg.errors.UniqueViolation",
        "psycopg.errors.UntranslatableCharacter",
        "RuntimeError",
    ]
    assert PAN not in stream.getvalue() and "exception" not in lines[0]  # no formatted traceback either
