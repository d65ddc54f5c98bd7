"""Positions in a JSON text: exact for escapes, nesting, unicode and repeated keys, and for any document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from preflight.positions import Located, Position, SourceMap

TEXT = """{
  "resource": {
    "aws_cloudwatch_log_group": {"logs": {"name": "a \\"logs\\" group \\\\ \\u00e9"}},
    "aws_s3_bucket": {
      "logs": {
        "tags": [["logs"], {"logs": "x"}, "\\ud83d\\ude00"],
        "😀é": {"logs": 1}
      }
    }
  }
}
"""


def _at(line: int, text: str, needle: str) -> int:
    """The 1-based UTF-16 column of ``needle`` on a line (what SARIF calls the column)."""
    row = text.splitlines()[line - 1]
    return len(row[: row.index(needle)].encode("utf-16-le")) // 2 + 1


@pytest.mark.parametrize(
    ("pointer", "line", "key", "value"),
    [
        (("resource", "aws_s3_bucket", "logs"), 5, '"logs"', "{"),
        (("resource", "aws_cloudwatch_log_group", "logs", "name"), 3, '"name"', '"a \\"'),
        (("resource", "aws_s3_bucket", "logs", "tags", 1, "logs"), 6, '"logs": "x"', '"x"'),
        (("resource", "aws_s3_bucket", "logs", "😀é", "logs"), 7, '"logs": 1', "1}"),
    ],
)
def test_keys_and_values_are_found_past_escapes_nesting_and_unicode(
    pointer: tuple[str | int, ...], line: int, key: str, value: str
) -> None:
    located = SourceMap(TEXT).locate(pointer)
    assert located == Located(Position(line, _at(line, TEXT, key)), Position(line, _at(line, TEXT, value)))


def test_columns_count_utf16_code_units_after_astral_characters() -> None:
    located = SourceMap('{"😀": {"a": 1}}').locate(("😀", "a"))
    assert located is not None and located.key == Position(1, 9)  # { " 😀(2 units) " : space { -> column 9


def test_array_elements_have_no_key_and_take_digit_strings() -> None:
    source = SourceMap('[\n  1,\n  [2, {"k": [3]}]\n]')
    assert source.locate((1, 1, "k", 0)) == Located(None, Position(3, 14))
    assert source.locate(("1", "0")) == Located(None, Position(3, 4))
    assert source.locate(()) == Located(None, Position(1, 1))


def test_a_repeated_key_is_the_last_one_as_json_loads_keeps() -> None:
    assert SourceMap('{"a": 1,\n "a": 2}').locate(("a",)) == Located(Position(2, 2), Position(2, 7))


def test_crlf_and_cr_end_lines() -> None:
    assert SourceMap('{\r\n"a":\r{"b": 1}}').locate(("a", "b")) == Located(Position(3, 2), Position(3, 7))


@pytest.mark.parametrize(
    "pointer",
    [("missing",), ("a", "b", "c"), ("list", 5), ("list", "x"), ("list", "01"), ("a", 0)],
)
def test_what_the_document_lacks_is_none(pointer: tuple[str | int, ...]) -> None:
    assert SourceMap('{"a": {"b": 1}, "list": [0, 1]}').locate(pointer) is None


def test_an_int_part_names_the_key_of_its_digits_in_an_object() -> None:
    assert SourceMap('{"3": true}').locate((3,)) == Located(Position(1, 2), Position(1, 7))


@pytest.mark.parametrize("text", ['{"a": {"b": 1', '{"a" 1}', '{"a": [1 2]}', '{"a": {"b": tru}}', ""])
def test_a_malformed_text_locates_nothing_instead_of_raising(text: str) -> None:
    assert SourceMap(text).locate(("a", "b")) is None


def test_a_file_that_cannot_be_read_has_no_map(tmp_path: Path) -> None:
    assert SourceMap.of_file(tmp_path / "gone.json") is None
    (tmp_path / "latin1.json").write_bytes(b'{"\xe9": 1}')
    assert SourceMap.of_file(tmp_path / "latin1.json") is None


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=25,
)


def _pointers(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], Any]]:
    found = [(prefix, value)]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        found.extend(_pointers(item, (*prefix, key)))
    return found


def _offset(text: str, position: Position) -> int:
    """Back from (line, UTF-16 column) to an offset in the text."""
    lines = text.split("\n")
    row = lines[position.line - 1]
    units, index = 0, 0
    while units < position.column - 1:
        units += 2 if ord(row[index]) > 0xFFFF else 1
        index += 1
    return sum(len(line) + 1 for line in lines[: position.line - 1]) + index


@settings(max_examples=200, deadline=None)
@given(document=_DOCUMENTS, indent=st.sampled_from([None, 2]), ascii_only=st.booleans())
def test_every_value_of_any_document_is_found_where_json_reads_it(
    document: Any, indent: int | None, ascii_only: bool
) -> None:
    text = json.dumps(document, indent=indent, ensure_ascii=ascii_only)
    source = SourceMap(text)
    decoder = json.JSONDecoder()
    for pointer, value in _pointers(document):
        located = source.locate(pointer)
        assert located is not None, pointer
        assert decoder.raw_decode(text, _offset(text, located.value))[0] == value
        if located.key is not None:
            key, _ = decoder.raw_decode(text, _offset(text, located.key))
            assert key == pointer[-1]
