"""The console's HTTP server: werkzeug's threaded server on 127.0.0.1 only, refusing plainly when the port is
taken (werkzeug itself would print its own message and exit the process)."""

from __future__ import annotations

from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from payments_cli.errors import PaymentsError

#: The one address the console listens on: it reads a deployment with the operator's own credentials.
HOST = "127.0.0.1"
#: How long any read of a connection (request line, headers, body) may wait: a client that stops sending gives
#: its thread back (300 half-sent requests held 300 threads for as long as their clients liked without it).
READ_TIMEOUT_S = 10.0


class _Handler(WSGIRequestHandler):
    """werkzeug's handler, with a read timeout, logging nothing (a request line may carry the sign-in token)."""

    server: ConsoleServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.read_timeout_s)

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Not logged: the first request's line holds the one-time token."""


class ConsoleServer(ThreadedWSGIServer):
    """Serves ``app`` (settable once the port is known: the app's own origin depends on it)."""

    def __init__(self, port: int, app: Any = None, *, read_timeout_s: float = READ_TIMEOUT_S) -> None:
        self.read_timeout_s = read_timeout_s
        super().__init__(HOST, port, app or _starting, handler=_Handler)

    def server_bind(self) -> None:
        """Bind, or raise PaymentsError with the fix."""
        try:
            super().server_bind()
        except OSError as error:
            raise PaymentsError(
                f"cannot serve on {HOST}:{self.port}: {error.strerror}; choose another --port"
            ) from None


def _starting(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Retry-After", "1")])
    return [b"starting"]
