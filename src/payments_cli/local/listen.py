"""``payments webhooks listen``: a temporary webhook endpoint on a local deployment that forwards each delivery
to a URL of yours, the way ``stripe listen`` does.

It makes a temporary API key for the merchant (the admin function, from the zip), an HTTP listener on
127.0.0.1, and an endpoint of the merchant's pointing at the listener. Each delivery the courier makes is
forwarded with its body and its Standard Webhooks headers exactly as received (they verify with the printed
secret), and the receiver's status is answered back to the courier: a failing receiver gets the retry schedule,
as it would in production. One line per delivery is printed. The deployment's reconcile function (the job the
schedule runs every minute) is run every few seconds meanwhile, so a delivery arrives seconds after its event.
On Ctrl-C (or SIGTERM) the endpoint is deleted and the key revoked.
"""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import urlsplit

from payments_cli.errors import PaymentsError

#: The Standard Webhooks headers forwarded as they came.
FORWARDED = ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "user-agent")
#: The most of a delivery read (the platform sends at most 20 KB).
MAX_BODY = 64 * 1024
#: What the courier is answered when the forward-to receiver cannot be reached.
UNREACHABLE = 502


class ListenError(PaymentsError):
    """The listener could not start (exit 1), or was asked for something it cannot do (2)."""


def checked_forward_to(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path)`` of an http(s) URL; ListenError (usage) otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ListenError(
            f"--forward-to {url!r}: give an http:// or https:// URL, e.g. http://127.0.0.1:4242/hooks", exit_code=2
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ListenError(f"--forward-to {url!r}: the port is not a number from 1 to 65535", exit_code=2) from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


@dataclass(frozen=True)
class Forwarded:
    """One delivery as the listener saw it."""

    event_type: str
    event_id: str
    status: int | None  # the receiver's status; None when it could not be reached


class Forwarder:
    """The listener: forwards each POST to ``forward_to`` and answers the courier with the receiver's status."""

    def __init__(self, forward_to: str, on_delivery: Callable[[Forwarded], None], *, timeout_s: float = 9.0) -> None:
        self._target = checked_forward_to(forward_to)
        self._on_delivery = on_delivery
        self._timeout_s = timeout_s
        forwarder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                body = self.rfile.read(length)
                headers = {name: value for name, value in self.headers.items() if name.lower() in FORWARDED}
                status = forwarder.forward(body, headers)
                self.send_response(status or UNREACHABLE)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # the delivery line says it all
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> Forwarder:
        self._thread.start()
        return self

    def forward(self, body: bytes, headers: dict[str, str]) -> int | None:
        scheme, host, port, path = self._target
        connection_type = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        connection = connection_type(host, port, timeout=self._timeout_s)
        status: int | None
        try:
            connection.request("POST", path, body=body, headers=headers)
            status = connection.getresponse().status
        except (OSError, http.client.HTTPException):
            status = None
        finally:
            connection.close()
        try:
            event = json.loads(body)
            event_type, event_id = str(event.get("type", "?")), str(event.get("id", "?"))
        except (ValueError, AttributeError):
            event_type, event_id = "?", headers.get("webhook-id", "?")
        self._on_delivery(Forwarded(event_type, event_id, status))
        return status

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def delivery_line(forwarded: Forwarded) -> str:
    """``payment.succeeded  pay_…:0002  -> 200`` (or ``-> unreachable (502 to the courier)``)."""
    outcome = str(forwarded.status) if forwarded.status is not None else f"unreachable ({UNREACHABLE} to the courier)"
    return f"{forwarded.event_type:<34} {forwarded.event_id}  -> {outcome}"


@dataclass
class Session:
    """What a listen made, to be removed at its end."""

    key_id: str
    secret: str
    endpoint_id: str = ""
    endpoint_secret: str = ""


def api_call(api_url: str, method: str, path: str, secret: str, body: Any = None) -> tuple[int, Any]:
    parts = urlsplit(api_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    if method == "POST":
        headers["Idempotency-Key"] = str(uuid.uuid4())
    try:
        connection.request(method, parts.path + path, body=None if body is None else json.dumps(body), headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise ListenError(
            f"the deployment's API at {api_url} did not answer ({error}): is it served? run `payments up`"
        ) from None
    finally:
        connection.close()


def open_endpoint(api_url: str, session: Session, url: str, events: list[str], out: TextIO) -> None:
    """Make the temporary endpoint; its id and secret go into ``session``."""
    wanted = {"url": url, "enabled_events": events, "description": "payments webhooks listen"}
    status, made = api_call(api_url, "POST", "/webhook_endpoints", session.secret, wanted)
    if status != 201:
        error = (made or {}).get("error", {}) if isinstance(made, dict) else {}
        raise ListenError(f"the API refused the endpoint ({status} {error.get('code')}): {error.get('message')}")
    session.endpoint_id, session.endpoint_secret = str(made["id"]), str(made["secret"])
    print(f"Ready. Endpoint {session.endpoint_id} forwards to the --forward-to URL.", file=out)
    print(f"  webhook signing secret: {session.endpoint_secret}", file=out)
    print("  (deliveries verify with it; Ctrl-C removes the endpoint)", file=out, flush=True)


def close_endpoint(api_url: str, session: Session) -> bool:
    """Delete the temporary endpoint; whether it is gone."""
    if not session.endpoint_id:
        return True
    status, _ = api_call(api_url, "DELETE", f"/webhook_endpoints/{session.endpoint_id}", session.secret)
    return status in (200, 404)
