"""ISO 4217 currencies and their minor-unit exponents (logic layer).

The list is the ISO 4217 maintenance agency's own table, shipped by the ``iso4217`` package, so a
code is accepted only if it is a real, current currency. Codes without minor units in that table
(precious metals, the testing code XTS, "no currency" XXX) are not payable and are refused, and so
are the funds and index units (:data:`NOT_PAYABLE`): they have minor units in the table, but they are
units of account that no card network settles.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from iso4217 import Currency as _IsoCurrency

#: Funds and index units: the table gives them minor units, but nothing is paid in them. All but UYW are
#: the entries ISO marks ``IsFund="true"``; UYW (Unidad Previsional, Uruguay's wage index, 4 decimals) is an
#: index unit the table does not mark. A test keeps this set a superset of the table's marked funds.
NOT_PAYABLE = frozenset({"BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"})


@dataclass(frozen=True)
class CurrencyInfo:
    """A payable currency: its alphabetic code and how many decimal places its minor unit has."""

    code: str
    exponent: int
    name: str


@cache
def _payable() -> dict[str, CurrencyInfo]:
    table: dict[str, CurrencyInfo] = {}
    for currency in _IsoCurrency:
        if currency.exponent is None or currency.code in NOT_PAYABLE:
            continue
        table[currency.code] = CurrencyInfo(currency.code, int(currency.exponent), currency.currency_name)
    return table


def lookup(code: str) -> CurrencyInfo | None:
    """Return the payable currency for an upper-case ISO 4217 alphabetic code, or None."""
    return _payable().get(code)


def payable_codes() -> frozenset[str]:
    """Every currency code a payment may use."""
    return frozenset(_payable())
