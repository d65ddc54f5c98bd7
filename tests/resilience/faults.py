"""Faults made with real sockets, for the resilience tier (and any test that needs S3 to misbehave).

`AwsFaultProxy` is an HTTP proxy on 127.0.0.1 in front of the moto server, put where a function's AWS
SDK sends its calls (``LocalDeployment.serve(aws_endpoint=...)``, ``LocalDeployment.runtime(aws_endpoint=
...)``). It tells the services apart by the SigV4 credential scope each request is signed for
(``Credential=<key>/<date>/<region>/<service>/aws4_request``): Secrets Manager, Lambda and the rest
always pass through, S3 gets the proxy's current mode:

- ``FORWARD``: passed to moto; every S3 request and its status counted (puts per object key);
- ``RESET``: the connection reset (RST) once the request's head arrived: S3 unreachable, failing fast;
- ``BLACK_HOLE``: the request read and never answered, the connection held open: S3 slow forever.

Each request asks the upstream for ``Connection: close``, so a client's pooled connection carries one
request and a mode switch applies from the next request on.
"""

from __future__ import annotations

import contextlib
import enum
import re
import select
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

_SCOPE = re.compile(rb"Credential=[^/]+/\d{8}/[^/]+/([a-z0-9-]+)/aws4_request", re.IGNORECASE)
_HOP_BY_HOP = (b"connection", b"keep-alive", b"proxy-connection")


class Mode(enum.Enum):
    """What happens to S3 requests."""

    FORWARD = "forward"
    RESET = "reset"
    BLACK_HOLE = "black_hole"


@dataclass
class S3Traffic:
    """What reached the proxy for S3, by outcome."""

    forwarded: int = 0
    reset: int = 0
    black_holed: int = 0
    #: (method, path) -> count, for each final status moto answered
    statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter)

    def puts(self, status: int) -> Counter[str]:
        """Object paths (``/bucket/key``) by how many PUTs of them moto answered with ``status``."""
        found = {path: n for (method, path, code), n in self.statuses.items() if method == "PUT" and code == status}
        return Counter(found)


class AwsFaultProxy:
    """See the module's docstring. Use as a context manager; ``endpoint`` is its URL."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(256)
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._mode = Mode.FORWARD
        self._lock = threading.Lock()
        self._held: set[socket.socket] = set()
        self._closed = threading.Event()
        self.s3 = S3Traffic()
        self.other_requests = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> AwsFaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        self._release_held()
        self._thread.join(timeout=5)

    @property
    def mode(self) -> Mode:
        """The current S3 mode."""
        return self._mode

    def set_mode(self, mode: Mode) -> None:
        """Switch S3's mode; connections held by a black hole are closed when it ends."""
        with self._lock:
            self._mode = mode
        if mode is not Mode.BLACK_HOLE:
            self._release_held()

    @contextlib.contextmanager
    def mode_for(self, mode: Mode) -> Iterator[None]:
        """S3 in ``mode`` for a block, forwarded again after it."""
        self.set_mode(mode)
        try:
            yield
        finally:
            self.set_mode(Mode.FORWARD)

    def _release_held(self) -> None:
        with self._lock:
            held, self._held = self._held, set()
        for sock in held:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked reading it
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(client,), daemon=True).start()

    def _connection(self, client: socket.socket) -> None:
        try:
            head, rest = _read_head(client)
            if head is None:
                client.close()
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, _, target = request_line.partition(" ")
            path = target.rsplit(" ", 1)[0].split("?", 1)[0]
            scope = _SCOPE.search(head)
            service = scope.group(1).decode().lower() if scope else ""
            with self._lock:
                mode = self._mode if service == "s3" else Mode.FORWARD
                if service == "s3" and mode is Mode.RESET:
                    self.s3.reset += 1
                elif service == "s3" and mode is Mode.BLACK_HOLE:
                    self.s3.black_holed += 1
                    self._held.add(client)
                elif service == "s3":
                    self.s3.forwarded += 1
                else:
                    self.other_requests += 1
            if mode is Mode.RESET:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                return
            if mode is Mode.BLACK_HOLE:
                _drain_until_closed(client)
                return
            status = self._forward(client, _close_after(head), rest)
            if service == "s3" and status is not None:
                with self._lock:
                    self.s3.statuses[(method, path, status)] += 1
        except OSError:
            pass
        finally:
            with self._lock:
                self._held.discard(client)
            with contextlib.suppress(OSError):
                client.close()

    def _forward(self, client: socket.socket, head: bytes, rest: bytes) -> int | None:
        """Pipe one request and its answer; the final (non-1xx) status moto answered, if one came."""
        upstream = socket.create_connection(self._upstream, timeout=30)
        try:
            upstream.sendall(head + rest)
            answer = b""
            status: int | None = None
            sockets = [client, upstream]
            while sockets:
                readable, _, _ = select.select(sockets, [], [], 30)
                if not readable:
                    break
                for sock in readable:
                    data = sock.recv(65536)
                    other = upstream if sock is client else client
                    if not data:
                        sockets.remove(sock)
                        if sock is upstream:
                            return status  # Connection: close: the answer is complete
                        with contextlib.suppress(OSError):
                            other.shutdown(socket.SHUT_WR)
                        continue
                    other.sendall(data)
                    if sock is upstream and status is None:
                        answer += data
                        status, answer = _final_status(answer)
            return status
        finally:
            upstream.close()


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    """A request's head (through the blank line) and whatever of its body came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def _close_after(head: bytes) -> bytes:
    """The head with ``Connection: close`` instead of any hop-by-hop connection header."""
    lines = head[:-4].split(b"\r\n")
    kept = [lines[0]] + [line for line in lines[1:] if line.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP]
    return b"\r\n".join([*kept, b"Connection: close"]) + b"\r\n\r\n"


def _final_status(answer: bytes) -> tuple[int | None, bytes]:
    """The first non-1xx status in the answer so far (1xx interim answers skipped), or None and the rest."""
    while b"\r\n" in answer:
        line = answer.split(b"\r\n", 1)[0]
        parts = line.split(b" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            return -1, b""
        code = int(parts[1])
        if code >= 200:
            return code, b""
        if b"\r\n\r\n" not in answer:
            return None, answer
        answer = answer.partition(b"\r\n\r\n")[2]
    return None, answer


def _drain_until_closed(sock: socket.socket) -> None:
    """Read and drop whatever the client sends, never answering, until either side closes."""
    with contextlib.suppress(OSError):
        while sock.recv(65536):
            pass
