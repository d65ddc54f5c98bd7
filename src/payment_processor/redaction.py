"""Exceptions described for the log without the request data they may carry (logic layer, no I/O).

``logger.exception`` writes ``str(exc)`` and a formatted traceback. For a database error that is the
request itself: PostgreSQL puts the caller's text into the error (observed with psycopg 3 against
PostgreSQL 15)::

    unsupported Unicode escape sequence
    DETAIL:  \\u0000 cannot be converted to text.
    CONTEXT:  JSON data, line 1: {"note": "card 4111111111111111 \\u0000...

    duplicate key value violates unique constraint "t_pkey"
    DETAIL:  Key (id)=(4111111111111111) already exists.

    invalid input syntax for type integer: "abc 4111111111111111"

and any other exception may have been built from request values. :func:`describe_exception` keeps
what an operator needs to find the bug and nothing the caller sent: the exception's type, for a
psycopg error its SQLSTATE, the names of the schema objects involved and its primary message with
every quoted literal and long number removed (never DETAIL, CONTEXT or the query), and the
traceback as frames only (``file:line in function``), without any exception text.
"""

from __future__ import annotations

import re
import sys
import traceback
from typing import Any

#: What replaces a quoted literal or a long number in a database message.
REDACTED = "<redacted>"
#: Frames kept, innermost last (a traceback through the Lambda runtime is about 15 frames deep).
MAX_FRAMES = 40

# Runs of digits (with the separators card numbers are written with) holding 5 or more digits: ids,
# card numbers, amounts. Shorter ones are what messages need: "character varying(64)".
_LONG_NUMBER = re.compile(r"\d(?:[\s\-./_]*\d){4,}")
# Diagnostic fields that name schema objects (ours, never the caller's), under the key they get here.
_SCHEMA_FIELDS = {
    "schema_name": "schema",
    "table_name": "table",
    "column_name": "column",
    "datatype_name": "datatype",
    "constraint_name": "constraint",
}


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """A log-safe description of ``exc``: its type, SQLSTATE, a redacted message, frames only.

    Keys: ``exception_type``, ``message`` (a database error's primary message without literals,
    else only the type's name), ``traceback`` (``file:line in function``), and when present
    ``sqlstate``, ``schema``/``table``/``column``/``datatype``/``constraint`` (psycopg errors) and
    ``caused_by`` (the types of the chained exceptions, outermost first).
    """
    description: dict[str, Any] = {"exception_type": _type_name(exc), "message": type(exc).__name__}
    diag = _psycopg_diagnostic(exc)
    if diag is not None:
        sqlstate = getattr(exc, "sqlstate", None) or getattr(diag, "sqlstate", None)
        if sqlstate:
            description["sqlstate"] = sqlstate
        primary = getattr(diag, "message_primary", None)
        if primary:
            description["message"] = redact_database_message(primary)
        for attribute, key in _SCHEMA_FIELDS.items():
            value = getattr(diag, attribute, None)
            if value:
                description[key] = value
    description["traceback"] = frames(exc)
    causes = _chain(exc)
    if causes:
        description["caused_by"] = [_type_name(cause) for cause in causes]
    return description


def redact_database_message(message: str) -> str:
    """``message`` with quoted literals and long numbers replaced: PostgreSQL quotes values it echoes.

    Everything from the first to the last quote of each kind goes (a value may itself hold quotes,
    so pairing them up is not safe); an unpaired quote takes the rest of the message with it. The
    schema objects named inside are reported separately from the diagnostic's own fields.
    """
    lines = message.splitlines()
    message = lines[0] if lines else ""  # a primary message is one line; a literal may not be
    for quote in ('"', "'"):
        first, last = message.find(quote), message.rfind(quote)
        if first == -1:
            continue
        rest = message[last + 1 :] if last > first else ""
        message = message[:first] + REDACTED + rest
    return _LONG_NUMBER.sub(REDACTED, message)


def frames(exc: BaseException) -> list[str]:
    """The traceback of ``exc`` as ``file:line in function`` lines, innermost last, no source or text."""
    summary = traceback.extract_tb(exc.__traceback__)
    return [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in summary[-MAX_FRAMES:]]


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _psycopg_diagnostic(exc: BaseException) -> Any:
    # An exception can only be a psycopg error if psycopg was imported: look it up, never import it
    # (no import cost, and this works in processes that do not ship psycopg).
    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(exc, psycopg.Error):
        return None
    return exc.diag


def _chain(exc: BaseException) -> list[BaseException]:
    causes: list[BaseException] = []
    seen = {id(exc)}
    current = exc
    while True:
        following = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
        if following is None or id(following) in seen:  # a cycle is possible: e.__context__ set by hand
            return causes
        seen.add(id(following))
        causes.append(following)
        current = following
