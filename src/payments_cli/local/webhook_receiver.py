"""A webhook receiver on 127.0.0.1 that verifies each delivery with the Standard Webhooks reference library
(``standardwebhooks``, not the platform's own signing code): what ``payments smoke`` proves a delivery with."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

#: The most of a delivery read (the platform sends at most 20 KB).
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Delivery:
    event_type: str
    verified: bool
    detail: str


class VerifyingReceiver:
    """Answers 200 to a delivery that verifies with ``secret`` (set once the endpoint is made), 400 otherwise;
    keeps what each payment's events were."""

    def __init__(self) -> None:
        self.secret = ""
        self._by_payment: dict[str, Delivery] = {}
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), MAX_BODY))
                delivery, payment_id = receiver.check(body, {k.lower(): v for k, v in self.headers.items()})
                with receiver._arrived:
                    if payment_id:
                        receiver._by_payment[payment_id] = delivery
                    receiver._arrived.notify_all()
                self.send_response(200 if delivery.verified else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def check(self, body: bytes, headers: dict[str, str]) -> tuple[Delivery, str | None]:
        from standardwebhooks import Webhook, WebhookVerificationError

        try:
            event = json.loads(body)
            event_type, payment_id = str(event["type"]), str(event["data"]["payment"]["id"])
        except (ValueError, KeyError, TypeError):
            return Delivery("?", False, "not an event object"), None
        try:
            Webhook(self.secret).verify(body, headers)
        # RuntimeError and ValueError: the library's answer to a secret it cannot read (an empty or odd one).
        except (WebhookVerificationError, RuntimeError, ValueError) as error:
            return Delivery(event_type, False, f"{event_type}: does not verify ({error})"), payment_id
        return Delivery(event_type, True, f"{event_type} {headers.get('webhook-id')}, verified"), payment_id

    def got(self, payment_id: str | None) -> Delivery | None:
        with self._arrived:
            return self._by_payment.get(payment_id or "")

    def wait(self, payment_id: str | None, *, timeout_s: float) -> None:
        with self._arrived:
            self._arrived.wait_for(lambda: (payment_id or "") in self._by_payment, timeout=timeout_s)

    def __enter__(self) -> VerifyingReceiver:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
