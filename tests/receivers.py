"""Real HTTP receivers on 127.0.0.1 for webhook tests: they answer as told and keep what they were sent.

Each runs a ``ThreadingHTTPServer`` in a thread of the test process and is stopped by its context manager.
What a receiver answers is a function of the request (status, headers, body, and optionally a delay or a
trickle), so one class serves the well-behaved endpoint, the failing one, the slow one and the redirecting one.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    """One request as the receiver read it."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok":true}'
    #: Seconds to wait before answering at all (a slow receiver).
    delay_s: float = 0.0
    #: Send the answer a byte at a time, this many seconds apart (a receiver trickling its headers).
    trickle_s: float = 0.0


class Receiver:
    """A receiver's address and what it was sent."""

    def __init__(self, server: ThreadingHTTPServer, scheme: str) -> None:
        self._server = server
        self.port = server.server_address[1]
        self.scheme = scheme
        self.received: list[Received] = []

    def url(self, path: str = "/hooks", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


@contextmanager
def receiver(
    answer: Callable[[Received], Answer] = lambda _: Answer(), *, tls: ssl.SSLContext | None = None, port: int = 0
) -> Iterator[Receiver]:
    """A receiver answering ``answer(request)``; HTTPS when ``tls`` (a server context) is given; on ``port`` when
    given (a receiver back up where a stopped one was)."""
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
            holder[0].received.append(request)
            reply = answer(request)
            time.sleep(reply.delay_s)
            head = f"HTTP/1.1 {reply.status} X\r\nContent-Length: {len(reply.body)}\r\nConnection: close\r\n"
            head += "".join(f"{name}: {value}\r\n" for name, value in reply.headers.items())
            raw = head.encode() + b"\r\n" + reply.body
            try:
                if reply.trickle_s:
                    for byte in raw:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(reply.trickle_s)
                else:
                    self.wfile.write(raw)
            except OSError:
                pass  # the sender gave up on us: what a slow receiver sees
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    with _serving(Handler, holder, port=port, tls=tls) as running:
        yield running


@contextmanager
def black_hole() -> Iterator[int]:
    """A port that accepts connections (the kernel completes the handshake) and never reads or answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@contextmanager
def garbage_server(reply: bytes) -> Iterator[int]:
    """A port that answers any connection with ``reply`` (not HTTP) and closes it."""

    def answer(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(reply)

    with streaming_server(answer) as port:
        yield port


@contextmanager
def streaming_server(serve_one: Callable[[socket.socket], None]) -> Iterator[int]:
    """A port whose every connection is handed to ``serve_one`` (raw bytes, no HTTP) and closed after it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                with suppress(OSError):
                    serve_one(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        sock.close()


@contextmanager
def forwarding(target: str, hold_s: Callable[[str, str], float] = lambda method, path: 0.0) -> Iterator[Receiver]:
    """A proxy on 127.0.0.1 that forwards every request to ``target`` (an ``http://host:port`` base) and answers
    what it answered, after ``hold_s(method, path)`` seconds: a request that reached the server whose answer
    the caller never gets in time (the outcome-unknown case). It keeps what it forwarded."""
    import urllib.error
    import urllib.request

    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length else None
            holder[0].received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body or b""))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            request = urllib.request.Request(target + self.path, data=body, headers=headers, method=self.command)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, payload = response.status, response.read()
            except urllib.error.HTTPError as error:
                status, payload = error.code, error.read()
            time.sleep(hold_s(self.command, self.path))
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the caller gave up waiting: what it would see of a slow acquirer

        do_GET = do_POST = do_DELETE = _forward

        def log_message(self, format: str, *args: object) -> None:
            pass

    with _serving(Handler, holder) as running:
        yield running


@contextmanager
def _serving(
    handler: type[BaseHTTPRequestHandler], holder: list[Receiver], *, port: int = 0, tls: ssl.SSLContext | None = None
) -> Iterator[Receiver]:
    """``handler`` served on 127.0.0.1 from a thread until the block ends; its Receiver put in ``holder`` first
    (the handler finds it there)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    holder.append(Receiver(server, "https" if tls is not None else "http"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
