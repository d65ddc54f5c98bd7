"""Where a value sits in a JSON text: the line and column of the key and value a JSON pointer names, so a
report points at the resource a finding is about, not at the first line that happens to contain its name.

Hand-written rather than a dependency: json-source-map, the PyPI package made for this, has had no release
since 2022, maps every value of the document up front (a plan JSON holds thousands of them) and counts columns
in code points where SARIF counts UTF-16 code units. The walk below descends only along the pointers asked for,
and lets the standard library's own decoder read every key and skip every sibling value, so escapes, nesting
and unicode are handled exactly as ``json.loads`` handles them when the checker loads the file.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from json.decoder import scanstring  # type: ignore[attr-defined]
from pathlib import Path

Pointer = Sequence[str | int]

_WHITESPACE = re.compile(r"[ \t\n\r]*")
# SARIF's line breaks (CR, LF, CR LF); inside a JSON text they can only be whitespace between tokens.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_DECODER = json.JSONDecoder()


class _Malformed(Exception):
    """The text is not the JSON it was when the checker loaded it."""


@dataclass(frozen=True)
class Position:
    """1-based line and column; the column counts UTF-16 code units, SARIF's default ``columnKind``."""

    line: int
    column: int


@dataclass(frozen=True)
class Located:
    """Where a member's key (None for an array element or the whole document) and its value start."""

    key: Position | None
    value: Position


# One container's members: key (or index) -> (offset of the key's opening quote or None, offset of the value).
_Members = dict[str | int, tuple[int | None, int]]
_INDEX = re.compile(r"0|[1-9][0-9]*")


class SourceMap:
    """Positions in one JSON text; each container on a looked-up path is scanned once and remembered."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._line_starts = [0, *(match.end() for match in _LINE_BREAK.finditer(text))]
        # Offset of a container -> whether it is an array, and its members; None for a scalar.
        self._containers: dict[int, tuple[bool, _Members] | None] = {}

    @classmethod
    def of_file(cls, path: Path) -> SourceMap | None:
        """The map of a file, or None when it cannot be read (gone since it was checked)."""
        try:
            return cls(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            return None

    def locate(self, pointer: Pointer) -> Located | None:
        """Where the value at ``pointer`` (object keys and array indexes; an index may also be given as a
        string of digits, as in RFC 6901) is, or None when the document has no such value."""
        try:
            key: int | None = None
            value = self._skip_whitespace(0)
            for part in pointer:
                container = self._container_at(value)
                found = _member(container, part) if container is not None else None
                if found is None:
                    return None
                key, value = found
        except _Malformed:
            return None
        return Located(None if key is None else self._position(key), self._position(value))

    def _position(self, offset: int) -> Position:
        line = bisect.bisect_right(self._line_starts, offset)
        before = self._text[self._line_starts[line - 1] : offset]
        return Position(line, len(before.encode("utf-16-le")) // 2 + 1)

    def _skip_whitespace(self, offset: int) -> int:
        match = _WHITESPACE.match(self._text, offset)
        assert match is not None  # the pattern matches the empty string
        return match.end()

    def _expect(self, offset: int, *chars: str) -> str:
        char = self._text[offset : offset + 1]
        if char not in chars:
            raise _Malformed(offset)
        return char

    def _skip_value(self, offset: int) -> int:
        try:
            return int(_DECODER.raw_decode(self._text, offset)[1])
        except json.JSONDecodeError:
            raise _Malformed(offset) from None

    def _container_at(self, offset: int) -> tuple[bool, _Members] | None:
        """The object or array starting at ``offset`` (is it an array, its members); None for a scalar."""
        if offset not in self._containers:
            opener = self._text[offset : offset + 1]
            self._containers[offset] = (
                (False, self._scan_object(offset))
                if opener == "{"
                else (True, self._scan_array(offset))
                if opener == "["
                else None
            )
        return self._containers[offset]

    def _scan_object(self, offset: int) -> _Members:
        members: _Members = {}
        at = self._skip_whitespace(offset + 1)
        if self._text.startswith("}", at):
            return members
        while True:
            self._expect(at, '"')
            try:
                key, end = scanstring(self._text, at + 1, True)
            except json.JSONDecodeError:
                raise _Malformed(at) from None
            colon = self._skip_whitespace(end)
            self._expect(colon, ":")
            value = self._skip_whitespace(colon + 1)
            # A repeated key overwrites the earlier one, as json.loads keeps the last value.
            members[key] = (at, value)
            after = self._skip_whitespace(self._skip_value(value))
            if self._expect(after, ",", "}") == "}":
                return members
            at = self._skip_whitespace(after + 1)

    def _scan_array(self, offset: int) -> _Members:
        members: _Members = {}
        at = self._skip_whitespace(offset + 1)
        if self._text.startswith("]", at):
            return members
        while True:
            members[len(members)] = (None, at)
            after = self._skip_whitespace(self._skip_value(at))
            if self._expect(after, ",", "]") == "]":
                return members
            at = self._skip_whitespace(after + 1)


def _member(container: tuple[bool, _Members], part: str | int) -> tuple[int | None, int] | None:
    """An array member by index (an int, or digits as RFC 6901 writes it); an object member by key (an int
    part names the key of its digits)."""
    is_array, members = container
    if not is_array:
        return members.get(str(part))
    if isinstance(part, str):
        if not _INDEX.fullmatch(part):
            return None
        part = int(part)
    return members.get(part)
