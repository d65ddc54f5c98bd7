"""A Stripe server for what localstripe does not do, answering only in shapes Stripe's own OpenAPI description
gives (tests.fakes.stripe_openapi): ``decline_code`` on card errors, ``increment_authorization``, ``tok_…``
tokens as a PaymentIntent's ``payment_method``, and ``Idempotency-Key`` honoured (a key sent again gets the
first answer, as Stripe's does).

Every answer is made from the description's schemas and validated against the response the description gives
that path, method and status before it is sent; one that does not validate is answered 500 and kept in
``invalid`` (the tests hold it empty, and show it catching a corrupted answer). On 127.0.0.1 only, in a thread
of the test's process, stopped with the context.

Cards are named by their token, as Stripe's test tokens are: a token containing ``InsufficientFunds`` or
``LostCard`` is declined at confirm with that ``decline_code``; ``IncrementRefused`` authorizes and refuses
every increment; ``Missing`` is a PaymentMethod the account does not have (400 ``resource_missing``).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import jsonschema

from tests.fakes.stripe_openapi import check, made

DECLINES = {"InsufficientFunds": "insufficient_funds", "LostCard": "lost_card"}
_ROUTES = (
    ("POST", re.compile(r"^/v1/payment_intents$"), "/v1/payment_intents", "create"),
    ("GET", re.compile(r"^/v1/payment_intents/(pi_\w+)$"), "/v1/payment_intents/{intent}", "retrieve"),
    ("POST", re.compile(r"^/v1/payment_intents/(pi_\w+)/confirm$"), "/v1/payment_intents/{intent}/confirm", "confirm"),
    (
        "POST",
        re.compile(r"^/v1/payment_intents/(pi_\w+)/increment_authorization$"),
        "/v1/payment_intents/{intent}/increment_authorization",
        "increment",
    ),
    ("POST", re.compile(r"^/v1/payment_intents/(pi_\w+)/capture$"), "/v1/payment_intents/{intent}/capture", "capture"),
)


@dataclass
class StripeSpecServer:
    """The running server: its API base, the PaymentIntents it holds, what it was sent, what it refused to send."""

    api_base: str = ""
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency_keys: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    #: Set by a test to make every answer's ``amount`` a string: the validation must catch it.
    corrupt: bool = False
    _answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, path: str, form: dict[str, str], key: str | None) -> tuple[int, Any]:
        found = _route(method, path)
        if found is None:
            return 404, _error("invalid_request_error", "Unrecognized request URL")
        template, name, parameters = found
        with self._lock:
            if key is not None and key in self._answers:
                return self._answers[key]  # Stripe: the same key gets the first answer
            if key is not None:
                self.idempotency_keys.append(key)
            status, body = getattr(self, "_" + name)(*parameters, form)
            if self.corrupt and isinstance(body, dict) and "amount" in body:
                body = {**body, "amount": str(body["amount"])}
            try:
                check(template, method, status, body)
            except jsonschema.ValidationError as exc:
                self.invalid.append(f"{method} {template} {status}: {exc.json_path}: {exc.message}")
                return 500, {"error": {"type": "api_error", "message": "the fake's answer is not Stripe's shape"}}
            if key is not None:
                self._answers[key] = (status, body)
            return status, body

    def _create(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        token = form.get("payment_method", "")
        if not re.fullmatch(r"(pm|tok)_\w+", token) or "Missing" in token:
            return 400, _error(
                "invalid_request_error", "No such PaymentMethod", code="resource_missing", param="payment_method"
            )
        metadata = {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}
        intent = made(
            "payment_intent",
            id=f"pi_spec{next(self._ids):06d}",
            amount=int(form["amount"]),
            currency=form["currency"],
            capture_method=form.get("capture_method", "automatic"),
            status="requires_confirmation",
            payment_method=token,
            payment_method_types=["card"],
            metadata=metadata,
        )
        self.intents[intent["id"]] = intent
        return 200, intent

    def _retrieve(self, intent_id: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        return 200, self.intents[intent_id]

    def _confirm(self, intent_id: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        intent = self.intents[intent_id]
        declined = next((code for name, code in DECLINES.items() if name in intent["payment_method"]), None)
        if declined is not None:
            last = {"type": "card_error", "code": "card_declined", "decline_code": declined}
            intent.update(status="requires_payment_method", last_payment_error=last)
            return 402, _error(
                "card_error",
                "Your card was declined.",
                code="card_declined",
                decline_code=declined,
                payment_intent=intent,
            )
        manual = intent["capture_method"] == "manual"
        intent.update(
            status="requires_capture" if manual else "succeeded", amount_received=0 if manual else intent["amount"]
        )
        return 200, intent

    def _increment(self, intent_id: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        intent = self.intents[intent_id]
        if intent["status"] != "requires_capture":
            return 400, _error(
                "invalid_request_error",
                "This PaymentIntent cannot be incremented.",
                code="payment_intent_unexpected_state",
            )
        if "IncrementRefused" in intent["payment_method"]:
            return 402, _error(
                "card_error",
                "Your card was declined.",
                code="card_declined",
                decline_code="generic_decline",
                payment_intent=intent,
            )
        intent["amount"] = int(form["amount"])
        return 200, intent

    def _capture(self, intent_id: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        intent = self.intents[intent_id]
        intent.update(status="succeeded", amount_received=int(form.get("amount_to_capture", intent["amount"])))
        return 200, intent


def _route(method: str, path: str) -> tuple[str, str, tuple[str, ...]] | None:
    """The description's path template, the handler's name and the path's parameters of a request."""
    for route_method, pattern, template, name in _ROUTES:
        matched = pattern.match(path)
        if matched and route_method == method:
            return template, name, matched.groups()
    return None


def _error(kind: str, message: str, **details: Any) -> dict[str, Any]:
    """Stripe's error answer, ``error.type`` = ``kind``."""
    return made("error", error={"type": kind, "message": message, **details})


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(self.rfile.read(length).decode())) if length else {}
        path = self.path.split("?", 1)[0]
        status, body = self.server.fake.answer(method, path, form, self.headers.get("Idempotency-Key"))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    fake: StripeSpecServer


@contextmanager
def stripe_spec_server() -> Iterator[StripeSpecServer]:
    """The server on a free port of 127.0.0.1, stopped at the end."""
    fake = StripeSpecServer()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    fake.api_base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
