"""What an acquirer answered, in the one taxonomy every connector maps into (logic layer, no I/O).

The line that matters is between :class:`Refused` and :class:`Unknown`. A refusal is certain that nothing
was processed (the connection was never made, TLS failed before the request left, or the acquirer said so
explicitly): the payment may be tried again, here or at another acquirer. An unknown outcome may have moved
money (a timeout after the request was sent, a 5xx after sending): it is asked again under the same key, at
the same acquirer, and never sent elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Approved:
    """Done: the authorization (or the capture, cancel, increment or refund) went through. ``reference`` is
    the acquirer's id for what it did (its authorization code, or Stripe's ``pi_…``): follow-ups name it."""

    reference: str
    outcome: ClassVar[str] = "approved"


@dataclass(frozen=True)
class Declined:
    """A definite no; nothing moved. ``code`` is ours (the connector's table maps the acquirer's code to
    it), ``acquirer_code`` the acquirer's own, kept for support."""

    code: str
    acquirer_code: str | None = None
    outcome: ClassVar[str] = "declined"


@dataclass(frozen=True)
class RequiresAction:
    """The issuer wants the cardholder (3-D Secure): ``next_action`` goes to the merchant as the acquirer
    gave it; a later confirm or the scheduled job settles the payment."""

    reference: str
    next_action: Mapping[str, Any] = field(default_factory=dict)
    outcome: ClassVar[str] = "requires_action"


@dataclass(frozen=True)
class Refused:
    """Not processed, certainly: safe to try again or elsewhere. ``reason`` is for the log (never a secret)."""

    reason: str
    outcome: ClassVar[str] = "refused"


@dataclass(frozen=True)
class Unknown:
    """The request may have been processed: ask again under the same key, at the same acquirer only."""

    reason: str
    outcome: ClassVar[str] = "unknown"


#: An authorization's possible answers.
AuthorizeOutcome = Approved | Declined | RequiresAction | Refused | Unknown
#: A capture's, cancel's, increment's or refund's (no cardholder is present for those).
FollowUpOutcome = Approved | Declined | Refused | Unknown
#: Every outcome's name, as ``attempts[].outcome`` shows it.
OUTCOMES = ("approved", "declined", "requires_action", "refused", "unknown")
