"""The query string of a list (``GET /payments``, ``GET /payments/{id}/refunds``, ``GET /events``) into a
PageRequest (logic layer).

``limit`` 1..100 (default 10); ``starting_after`` (older than that object) or ``ending_before`` (newer),
never both; ``created[gte]`` / ``created[lt]`` as RFC 3339 times with an offset (``2026-11-29T15:00:00Z``)
or Unix seconds. Every problem is a 400 ``invalid_parameter`` naming the parameter, never echoing a value;
a parameter the list does not take is refused without naming it (it is the caller's text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from payment_processor.errors import BadRequest
from payment_processor.store.interfaces import PageRequest

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
PAGE_PARAMETERS = ("limit", "starting_after", "ending_before", "created[gte]", "created[lt]")
_MAX_VALUE_LENGTH = 100
_ID_SHAPED = re.compile(r"[!-~]+")


def invalid(field: str, message: str) -> BadRequest:
    """The 400 for one bad parameter."""
    return BadRequest(message, code="invalid_parameter", field=field)


def single_values(
    multi: Mapping[str, list[str]] | None, single: Mapping[str, str] | None, allowed: Iterable[str]
) -> dict[str, str]:
    """One value per parameter, each one the list takes; 400 for a repeated or unknown one."""
    allowed = set(allowed)
    values: dict[str, str] = {}
    source: Mapping[str, list[str]] = multi if multi else {k: [v] for k, v in (single or {}).items()}
    for name, given in source.items():
        if name not in allowed:
            raise BadRequest(
                "the query string has a parameter this list does not take; it takes " + ", ".join(sorted(allowed)),
                code="invalid_parameter",
            )
        if len(given) != 1:
            raise invalid(name, f"{name} is given more than once")
        if len(given[0]) > _MAX_VALUE_LENGTH:
            raise invalid(name, f"{name} is longer than {_MAX_VALUE_LENGTH} characters")
        values[name] = given[0]
    return values


def page_request(values: Mapping[str, str]) -> PageRequest:
    """The PageRequest the values ask for (validated)."""
    limit = DEFAULT_LIMIT
    if "limit" in values:
        text = values["limit"]
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
            raise invalid("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")
        limit = int(text)
    after, before = values.get("starting_after"), values.get("ending_before")
    if after is not None and before is not None:
        raise invalid("ending_before", "give starting_after (older objects) or ending_before (newer), not both")
    for name, value in (("starting_after", after), ("ending_before", before)):
        # Ids are visible ASCII: anything else (empty, a NUL PostgreSQL cannot take, spaces, invisible
        # characters) cannot name an object, and is refused here rather than by the database (a 500).
        if value is not None and not _ID_SHAPED.fullmatch(value):
            raise invalid(name, f"{name} must be the id of an object from an earlier page")
    return PageRequest(
        limit=limit,
        starting_after=after,
        ending_before=before,
        created_gte=_moment(values, "created[gte]"),
        created_lt=_moment(values, "created[lt]"),
    )


def _moment(values: Mapping[str, str], name: str) -> datetime | None:
    text = values.get(name)
    if text is None:
        return None
    if text.isascii() and text.isdigit():
        try:
            return datetime.fromtimestamp(int(text), UTC)
        except (OverflowError, OSError, ValueError):
            raise invalid(name, f"{name} is out of range") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise invalid(name, f"{name} must be an RFC 3339 time with an offset (2026-11-29T15:00:00Z) or Unix seconds")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first representable moment in UTC
        raise invalid(name, f"{name} is out of range") from None
