"""Screening of a decoded request before anything else touches it: card numbers and unstorable text.

Pure functions over decoded JSON (logic layer, no I/O). Every string the request carries is
screened: every value at any depth (unknown fields, nested objects and arrays included), every
object key at any depth, and the decimal form of every JSON number that is a whole number (a card
number sent as ``4111111111111111`` without quotes is still a card number). Callers screen headers
with the same string functions.

Card numbers (PAN)
------------------
A PAN is 13 to 19 digits passing the Luhn checksum. People write them with separators, so the text
is read as *groups* of digits (maximal runs of decimal digits, any script) joined by *separator
runs*: any mix of whitespace (spaces, tabs, no-break spaces), dashes, dots, slashes, underscores,
bullets and middle dots (``•``, ``·``, ``∙``, ``⋅``, ``‧``, ``・``), fullwidth dots and slashes, and the
invisible format characters (Unicode category Cf: zero-width space and joiners, the soft hyphen, the word
joiner), which a copy from a web page or a card image's text leaves between digits.
``4111.1111.1111.1111``, ``4111  1111  1111  1111``, ``4111/1111/1111/1111``,
``4111 - 1111 - 1111 - 1111`` and ``4111_1111_1111_1111`` all read as ``4111111111111111``. Any
other character (a letter, ``:``, ``,``, ``+``, ``#``) ends a chain of groups.

A candidate is a window of consecutive whole groups of one chain holding 13 to 19 digits. Each
window is checked, so a card among other numbers is still found: ``ref 12 4111 1111 1111 1111``
and ``4111-1111-1111-1111 12/27`` are refused. One random 13-19 digit number in ten passes Luhn,
so without further rules every order number, timestamp or phone number would be refused one time
in ten. The false-positive rules, and what each one costs:

1. **An unbroken run of more than 19 digits is an order number, not a card.** No card is longer
   than 19 digits, and such a run is never split into windows: a 24-digit order number holds a
   dozen 16-digit windows, and one of them would pass Luhn almost every time. Cost: a PAN glued to
   other digits with no separator (``00004111111111111111``) is not found. That is where the line
   is drawn: a card is written on its own or with separators, never fused into a longer number.
2. **Groups are never split.** A window starts and ends on group boundaries: splitting groups
   would bring back the sliding window rule 1 avoids. Cost: as for rule 1, a card fused to other
   digits (``94111111111111111``) is refused only if the whole number passes Luhn.
3. **A group of one or two digits can only end a card.** Card numbers are written in groups of
   3 to 6 (4-4-4-4, 4-6-5, 4-4-4-4-3), so ``2024-01-15 - 2024-02-14``, ``10.00 20.00 30.00`` and
   ``38 40 42 44 46 48 50`` never join into one number. Cost: a card typed digit by digit or in
   pairs (``4 1 1 1 ...``, ``41 11 11 ...``) is not found.
4. **First digit.** No card number starts with 0 (ISO/IEC 7812 gives major industry identifier 0
   to no card issuer), which keeps zero-padded ids (``0000123456789012``) out. A 13-digit card
   starts with 4, 5 or 6 (legacy Visa, Maestro), which keeps epoch-millisecond timestamps
   (``1718000000000``: 13 digits starting with 1 until 2033) out. Cost: none known.
   Longer numbers may start with any of 1-9: UATP (1), fleet (7), UnionPay and RuPay (8) and
   national schemes (9) are real cards, so the common "first digit 2-6" rule is not used.
5. **A group right after ``+`` starts a phone number**: ``+4915112345678`` (E.164) and
   ``+86 138 0013 8000`` are not cards. Cost: a card written after a plus sign is not found.
6. **UUIDs are not numbers**: ``8-4-4-4-12`` hex strings are taken out before reading. Their last
   two groups are all digits (a 16-digit number) about once in 2,300 random UUIDs.

What remains refused one time in ten: a 13-19 digit number that is not a card but is written on
its own (an order number, a compact ``20240115000000`` timestamp) or in card-shaped groups
(``2024-000123-4572``). That is inherent (such a number *is* shaped exactly like a card) and is the
price of never storing one: a refused caller can reformat the reference, a stored card number
cannot be taken back. Each string is screened on its own: a card split across two JSON strings is
not found.

Unstorable text
---------------
PostgreSQL stores neither NUL (``\\u0000``) in text or jsonb nor unpaired UTF-16 surrogates (which
``json.loads`` accepts from ``"\\ud800"``). Finding them here turns a database error carrying the
request's text (``CONTEXT: JSON data, line 1: ...``) into a clean 422.

Where a finding is
------------------
``find_*`` return a :data:`Path`: the keys and indexes leading to the value, or, for a finding in
an object *key*, the path of that object (a key is never part of its own path). A path can hold the
caller's own keys: map it to a published field name before it leaves the process.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: Where a finding is in decoded JSON: object keys and array indexes from the root.
Path = tuple[str | int, ...]

MIN_PAN_DIGITS = 13
MAX_PAN_DIGITS = 19
#: Groups shorter than this can only be the last group of a card (rule 3).
_MIN_INNER_GROUP = 3
#: Allowed first digits by card length where they narrow anything down (rule 4); otherwise 1-9.
_FIRST_DIGITS_BY_LENGTH = {13: "456"}

_DIGIT_RUN = re.compile(r"\d+")  # str patterns: \d is any Unicode decimal digit
_UUID = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f])")
_SEPARATORS = frozenset("-./_\u2022\u00b7\u2219\u22c5\u2027\u30fb\uff0e\uff0f\u2215\u2044")
_SMALLEST_20_DIGIT_NUMBER: int = 10**MAX_PAN_DIGITS
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def luhn_valid(digits: str) -> bool:
    """True if ``digits`` (only 0-9) passes the Luhn checksum that every card number carries."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


@dataclass(frozen=True)
class _Group:
    digits: str  # ASCII 0-9
    after_plus: bool


def _is_separator(char: str) -> bool:
    # Category Pd covers every dash (-, the hyphen, en and em dashes, ...) a text editor may insert; Cf the
    # invisible ones (U+200B zero-width space, U+00AD soft hyphen, U+2060 word joiner, U+200C/D, U+FEFF).
    return char in _SEPARATORS or char.isspace() or unicodedata.category(char) in ("Pd", "Cf")


def _ascii_digits(run: str) -> str:
    if run.isascii():
        return run
    return "".join(str(unicodedata.decimal(char)) for char in run)


def _chains(text: str) -> Iterator[list[_Group]]:
    """The digit groups of ``text``, as chains of groups joined only by separator runs."""
    chain: list[_Group] = []
    previous_end: int | None = None
    for match in _DIGIT_RUN.finditer(text):
        gap = text[previous_end : match.start()] if previous_end is not None else ""
        if not (gap and all(_is_separator(char) for char in gap)):
            if chain:
                yield chain
            chain = []
        digits = match.group()
        if len(digits) > MAX_PAN_DIGITS:
            # Rule 1: an opaque number, and a wall: nothing joins across it.
            if chain:
                yield chain
            chain, previous_end = [], None
            continue
        chain.append(_Group(_ascii_digits(digits), after_plus=text[match.start() - 1 : match.start()] == "+"))
        previous_end = match.end()
    if chain:
        yield chain


def _plausible_start(digits: str) -> bool:
    allowed = _FIRST_DIGITS_BY_LENGTH.get(len(digits), "123456789")
    return digits[0] in allowed


def _chain_has_card(chain: list[_Group]) -> bool:
    for start, first in enumerate(chain):
        if first.after_plus:
            continue
        digits = ""
        for end in range(start, len(chain)):
            if end > start and len(chain[end - 1].digits) < _MIN_INNER_GROUP:
                break  # rule 3: a short group only ever ends a card
            digits += chain[end].digits
            if len(digits) > MAX_PAN_DIGITS:
                break
            if len(digits) >= MIN_PAN_DIGITS and _plausible_start(digits) and luhn_valid(digits):
                return True
    return False


def contains_card_number(text: str) -> bool:
    """True if ``text`` holds a card number as the module docstring defines it."""
    # "#" is neither a digit nor a separator, so a masked UUID also ends any chain it touched.
    text = _UUID.sub("#", text)
    return any(_chain_has_card(chain) for chain in _chains(text))


def has_unstorable_character(text: str) -> bool:
    """True if ``text`` holds NUL or an unpaired surrogate, which PostgreSQL cannot store."""
    return _UNSTORABLE.search(text) is not None


def strings(value: Any) -> Iterator[tuple[Path, str]]:
    """Every string ``value`` (decoded JSON) carries, keys and whole numbers included, with its path.

    A key is reported at the path of its object. Iterative, not recursive: a document nested as
    deep as the JSON decoder allows must not exhaust the stack here.
    """
    stack: list[tuple[Path, Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            yield path, item
        elif isinstance(item, dict):
            children: list[tuple[Path, Any]] = []
            for key, child in item.items():
                yield path, key if isinstance(key, str) else str(key)
                children.append(((*path, key), child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([((*path, index), child) for index, child in enumerate(item)]))
        elif isinstance(item, bool):
            continue  # a bool is an int to Python, but true/false carry no digits
        elif isinstance(item, int | float) and _is_short_whole_number(item):
            # Whole numbers of more than 19 digits are opaque anyway (rule 1): skip the conversion.
            yield path, str(int(item))


def _is_short_whole_number(number: int | float) -> bool:
    if isinstance(number, float) and not number.is_integer():
        return False  # also false for inf and nan; a card number has no fractional part
    return abs(number) < _SMALLEST_20_DIGIT_NUMBER


def find_card_number(value: Any) -> Path | None:
    """Where the first card number in ``value`` (decoded JSON) is, or None if it holds none."""
    for path, text in strings(value):
        if contains_card_number(text):
            return path
    return None


def find_unstorable_character(value: Any) -> Path | None:
    """Where the first NUL or unpaired surrogate in ``value`` (decoded JSON) is, or None."""
    for path, text in strings(value):
        if has_unstorable_character(text):
            return path
    return None
