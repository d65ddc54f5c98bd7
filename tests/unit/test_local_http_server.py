"""The local API server's HTTP side: werkzeug's threaded server in front of ``LocalApi.handle``.

Each test runs the real server on 127.0.0.1 (an ephemeral port) in front of a recording stand-in for
LocalApi, and talks to it with http.client or, where the bytes on the wire matter, a raw socket.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from payments_cli.errors import ServeError
from payments_cli.local.edge.server import HEALTH_PATH, MAX_BODY_BYTES, ApiHttpServer

ANSWER = (
    201,
    [("Content-Type", "application/json"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Content-Length", "999")],
    b'{"id":"pay_1"}',
)


@dataclass(frozen=True)
class Call:
    method: str
    raw_path: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


@dataclass
class RecordingApi:
    """Stands in for LocalApi: records what ``handle`` got and gives one fixed answer."""

    calls: list[Call] = field(default_factory=list)

    def handle(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        self.calls.append(Call(method, raw_path, headers, body, source_ip))
        return ANSWER


class NagleRecordingServer(ApiHttpServer):
    """The real server, noting TCP_NODELAY on each accepted socket as the connection ends."""

    def __init__(self, port: int, api: RecordingApi) -> None:
        self.nodelay: list[int] = []
        super().__init__(port, api)  # type: ignore[arg-type]

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        self.nodelay.append(request.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        super().shutdown_request(request)


@dataclass
class Served:
    api: RecordingApi
    server: NagleRecordingServer
    port: int

    def client(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def raw(self, request: bytes) -> bytes:
        """Send bytes as they are; everything the server answers until it closes the connection."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(request)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        return received


@pytest.fixture
def served() -> Iterator[Served]:
    api = RecordingApi()
    server = NagleRecordingServer(0, api)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Served(api, server, server.port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        yield b"x" * part
        sent += part


# Bodies ------------------------------------------------------------------------------------------


def test_a_chunked_body_arrives_whole(served: Served) -> None:
    client = served.client()
    parts = [b'{"amount": 1999, ', b'"currency": "EUR", ', b'"payment_method": "tok_visa"}']
    client.request("POST", "/v1/payments", body=iter(parts), headers={"Content-Type": "application/json"})
    response = client.getresponse()
    assert (response.status, response.read()) == (201, b'{"id":"pay_1"}')
    (call,) = served.api.calls
    assert call.header("Transfer-Encoding") == ["chunked"]  # it really went chunked
    assert call.body == b"".join(parts)
    assert (call.method, call.raw_path, call.source_ip) == ("POST", "/v1/payments", "127.0.0.1")


def test_a_chunked_body_of_exactly_the_limit_is_read_whole(served: Served) -> None:
    client = served.client()
    client.request("POST", "/v1/payments", body=chunks(MAX_BODY_BYTES, size=100_003))
    assert client.getresponse().status == 201
    assert len(served.api.calls[0].body) == MAX_BODY_BYTES


def test_a_content_length_body_still_arrives(served: Served) -> None:
    client = served.client()
    client.request("POST", "/v1/payments", body=b'{"amount": 1999}', headers={"Content-Type": "application/json"})
    response = client.getresponse()
    assert (response.status, response.read()) == (201, b'{"id":"pay_1"}')
    (call,) = served.api.calls
    assert call.body == b'{"amount": 1999}'
    assert call.header("Content-Length") == ["16"]


def test_a_request_without_a_body_gets_an_empty_one(served: Served) -> None:
    client = served.client()
    client.request("GET", "/v1/payments/pay_1")
    assert client.getresponse().status == 201
    assert served.api.calls[0].body == b""


def test_an_oversized_chunked_body_is_413_and_never_reaches_the_api(served: Served) -> None:
    client = served.client()
    client.request("POST", "/v1/payments", body=chunks(2 * MAX_BODY_BYTES))
    response = client.getresponse()
    assert response.status == 413
    assert json.loads(response.read()) == {"message": f"the request body is over {MAX_BODY_BYTES} bytes"}
    assert served.api.calls == []


def test_an_oversized_content_length_is_413_and_never_reaches_the_api(served: Served) -> None:
    client = served.client()
    client.request("POST", "/v1/payments", body=b"x" * (MAX_BODY_BYTES + 1))
    assert client.getresponse().status == 413
    assert served.api.calls == []


def test_a_malformed_chunk_is_400_and_never_reaches_the_api(served: Served) -> None:
    answer = served.raw(
        b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"not-hex\r\nabc\r\n0\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert served.api.calls == []


# Connections -------------------------------------------------------------------------------------


def test_two_requests_on_one_client_connection(served: Served) -> None:
    client = served.client()
    for path in ("/v1/payments/pay_1", "/v1/payments/pay_2"):
        client.request("GET", path)
        response = client.getresponse()
        assert (response.status, response.read()) == (201, b'{"id":"pay_1"}')
    assert [call.raw_path for call in served.api.calls] == ["/v1/payments/pay_1", "/v1/payments/pay_2"]


def test_accepted_sockets_have_nagle_off(served: Served) -> None:
    client = served.client()
    client.request("GET", "/v1/payments/pay_1")
    client.getresponse().read()
    client.close()
    deadline = time.monotonic() + 10
    while not served.server.nodelay and time.monotonic() < deadline:
        time.sleep(0.01)
    assert served.server.nodelay == [1]


def test_only_127_0_0_1_is_served(served: Served) -> None:
    assert served.server.server_address[0] == "127.0.0.1"


def test_a_taken_port_is_a_serve_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ServeError, match=r"cannot listen on 127\.0\.0\.1:\d+"):
            ApiHttpServer(taken.getsockname()[1], RecordingApi())  # type: ignore[arg-type]


# What goes in and out ----------------------------------------------------------------------------


def test_the_health_path_says_it_is_up_and_nothing_about_the_deployment(served: Served) -> None:
    # Review finding 10: it answered anyone with the routes, the rate limits and the emulator's address.
    client = served.client()
    client.request("GET", HEALTH_PATH)
    response = client.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(response.read()) == {"status": "ok"}
    assert served.api.calls == []


def test_head_answers_without_a_body(served: Served) -> None:
    answer = served.raw(b"HEAD /v1/payments/pay_1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201 ")
    assert b"\r\nContent-Length: 14" in head  # the length of the body a GET would get
    assert rest == b""
    assert served.api.calls[0].method == "HEAD"


def test_repeated_request_headers_arrive_as_repeated_pairs(served: Served) -> None:
    client = served.client()
    client.putrequest("GET", "/v1/payments/pay_1")
    client.putheader("X-Tag", "a")
    client.putheader("X-Tag", "b")
    client.putheader("X_Under", "kept")  # a WSGI environ drops names with "_"
    client.endheaders()
    client.getresponse().read()
    (call,) = served.api.calls
    assert [(k, v) for k, v in call.headers if k == "X-Tag"] == [("X-Tag", "a"), ("X-Tag", "b")]
    assert call.header("X_Under") == ["kept"]


def test_repeated_response_headers_go_out_as_sent_with_the_real_length(served: Served) -> None:
    client = served.client()
    client.request("GET", "/v1/payments/pay_1")
    response = client.getresponse()
    assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert response.headers.get_all("Content-Length") == ["14"]  # not the 999 the answer claimed


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (b"/v1/payments/..%2F..", "/v1/payments/..%2F.."),  # not decoded to ../..
        (b"/v1/payments/pay_1?expand=a&expand=b&q=%20", "/v1/payments/pay_1?expand=a&expand=b&q=%20"),
        (b"/v1/caf%C3%A9", "/v1/caf%C3%A9"),
        # Raw UTF-8 bytes reach LocalApi as http.server decodes the request line (latin-1), as before.
        ("/v1/café".encode(), "/v1/caf\u00c3\u00a9"),
    ],
)
def test_the_request_target_reaches_the_api_as_sent(served: Served, target: bytes, expected: str) -> None:
    answer = served.raw(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 201 ")
    assert served.api.calls[0].raw_path == expected


def test_nothing_is_logged_to_stderr(served: Served, capfd: pytest.CaptureFixture[str]) -> None:
    client = served.client()
    client.request("GET", "/v1/payments/pay_1")
    client.getresponse().read()
    client.request("POST", "/v1/payments", body=chunks(MAX_BODY_BYTES + 1))
    client.getresponse().read()
    assert b"Error code explanation: 505" in served.raw(b"GET /v1 HTTP/2.0\r\n\r\n")  # http.server's own answer
    assert capfd.readouterr().err == ""


# Stopping ----------------------------------------------------------------------------------------

SERVE = textwrap.dedent(
    """
    import sys
    import payments_cli.local.serve as serve

    class Runtime:
        def __init__(self, name):
            self.name = name

        def close(self):
            print("closed", self.name, flush=True)

    class Api:
        stages = ["v1"]
        functions = {"processor": Runtime("processor"), "authorizer": Runtime("authorizer")}

        def handle(self, method, raw_path, headers, body, source_ip):
            return 200, [], b""

    class Schedules:
        def stop(self):
            print("stopped schedules", flush=True)

        def close(self):
            print("closed schedules", flush=True)

    class Queues:
        def stop(self):
            print("stopped queues", flush=True)

        def close(self):
            print("closed queues", flush=True)

    serve.build_api = lambda state, environment, suffix: (Api(), {"routes": []})
    serve.start_schedules = lambda state, environment, suffix: Schedules()
    serve.start_queue_sources = lambda state, environment, suffix: Queues()
    print("exit", serve.serve_forever(None, "dev", "test", int(sys.argv[1])), flush=True)
    """
)


def test_serve_forever_stops_on_sigterm_and_closes_the_runtimes() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    src = Path(__file__).resolve().parents[2] / "src"
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(src)},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                client.request("GET", HEALTH_PATH)
                assert client.getresponse().status == 200
                break
            except ConnectionRefusedError:
                assert process.poll() is None and time.monotonic() < deadline, process.communicate()
                time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert out.splitlines() == [
        "stopped schedules",
        "closed schedules",
        "stopped queues",
        "closed queues",
        "closed processor",
        "closed authorizer",
        "exit 0",
    ]
    assert err.startswith(f"serving dev/test on http://127.0.0.1:{port}/v1\n")


# Resources held by clients (security review, finding 8) ------------------------------------------


def test_a_client_that_stops_sending_is_dropped_after_the_read_timeout() -> None:
    api = RecordingApi()
    server = ApiHttpServer(0, api, read_timeout_s=0.3)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        stalled = []
        for partial in (b"GET /v1/pay", b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(partial)
            stalled.append(sock)
        started = time.monotonic()
        for sock in stalled:
            while sock.recv(65536):  # whatever is answered, the server closes the connection
                pass
            sock.close()
        assert time.monotonic() - started < 3
        assert api.calls == [], "a request never sent whole reached nothing"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
