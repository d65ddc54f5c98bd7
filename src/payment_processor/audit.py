"""The audit log of operator actions: what the admin function keeps of each (logic layer, no I/O).

Every action that changes something (setup, a key created, rolled or revoked, a connector set, removed or
forgotten) is recorded once it has run, been refused or failed: who asked (``actor``: the identity the ``payments``
command ran as, asserted by the command), the action, its target, the outcome, and a few details. The database
table is the record; each entry is also copied as an object into the transaction-log bucket (immutable there in
prod). What is kept of a request is a fixed list of fields (:data:`KEPT_FIELDS`): a secret key, a password or
anything else an event carries never enters the log, whatever the event holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from payment_processor import payment as payments

#: Actions that change something; reads (list_keys, list_connectors, list_audit) are not recorded.
AUDITED_ACTIONS = frozenset(
    {
        "setup",
        "create_key",
        "roll_key",
        "revoke_key",
        "set_connector",
        "remove_connector",
        "forget_connectors",
        "redeliver_event",
    }
)
#: The request fields kept as details, each only when it is a short number, boolean or id-like text.
KEPT_FIELDS = (
    "merchant_id",
    "key_id",
    "connector",
    "priority",
    "read_only",
    "expires_in_s",
    "overlap_s",
    "event_id",
    "endpoint_id",
)
#: Where each entry is copied in the transaction-log bucket (object-locked in prod; payments_infra grants the
#: admin function puts under it alone).
OBJECT_PREFIX = "audit/"
#: Who asked, when the command did not say.
UNKNOWN_ACTOR = "unknown"
_PRINTABLE = re.compile(r"[ -~]{1,512}")
_ID_LIKE = re.compile(r"[A-Za-z0-9_.:/@-]{1,128}")
#: Text shaped like one of the secrets the platform knows (API keys, webhook secrets, Stripe keys) is never kept,
#: even in a field meant for an id (an operator's paste in the wrong flag).
_SECRET_LIKE = re.compile(r"(?<![A-Za-z0-9])(sk|rk|pk|whsec)_", re.IGNORECASE)


@dataclass(frozen=True)
class AuditEntry:
    """One operator action as the log keeps it."""

    actor: str
    action: str
    outcome: str  # "ok", "refused" (the admin function said no, with a code) or "failed" (an error)
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    id: int | None = None

    def object_key(self) -> str:
        """Where its copy goes in the transaction-log bucket (a stored entry: it has its id and time)."""
        assert self.at is not None and self.id is not None
        return f"{OBJECT_PREFIX}{self.at:%Y/%m/%d}/{self.id:012d}-{self.action}.json"

    def resource(self) -> dict[str, Any]:
        """As ``payments audit`` shows it."""
        return {
            "id": self.id,
            "at": payments.isoformat(self.at) if self.at else None,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "detail": dict(self.detail),
        }


def actor_of(event: dict[str, Any]) -> str:
    """The identity the command said it ran as: printable ASCII up to 512 characters, else ``unknown``."""
    actor = event.get("actor")
    return actor if isinstance(actor, str) and _PRINTABLE.fullmatch(actor) else UNKNOWN_ACTOR


def entry_for(
    event: dict[str, Any], outcome: str, answer: dict[str, Any] | None = None, code: str | None = None
) -> AuditEntry:
    """The entry for an audited action: its request's kept fields, the key a create or roll made, the refusal's
    code. Nothing else of the event or the answer (which may hold a secret) is read."""
    action = str(event.get("action"))
    detail: dict[str, Any] = {}
    for name in KEPT_FIELDS:
        value = event.get(name)
        if _kept(value):
            detail[name] = value
    made = (answer or {}).get("key")
    if isinstance(made, dict) and isinstance(made.get("id"), str):
        detail["made_key_id"] = made["id"]
    if code is not None:
        detail["code"] = code
    return AuditEntry(actor_of(event), action, outcome, _target(action, detail), detail)


def _kept(value: Any) -> bool:
    """A boolean, a number of sane size, or id-like text: never free text, which could carry a secret."""
    if isinstance(value, bool) or (isinstance(value, int) and abs(value) < 10**10):
        return True
    return isinstance(value, str) and _ID_LIKE.fullmatch(value) is not None and _SECRET_LIKE.search(value) is None


def _target(action: str, detail: dict[str, Any]) -> str | None:
    if action in ("roll_key", "revoke_key"):
        return detail.get("key_id")
    if action == "create_key":
        return detail.get("made_key_id") or detail.get("merchant_id")
    if action == "redeliver_event":
        return detail.get("endpoint_id")
    if action in ("set_connector", "remove_connector") and "merchant_id" in detail:
        return f"{detail['merchant_id']}/{detail.get('connector', '?')}"
    return None
