"""`payments console` as a user runs it: its usage errors and a port it cannot have."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.cli.command import payments


@pytest.mark.parametrize("port", ["1", "80", "65536", "-1", "x", "8080.0"])
def test_a_port_that_cannot_be_served_on_is_bad_usage(port: str) -> None:
    result = payments("console", "--port", port)
    assert result.returncode == 2 and "--port" in result.stderr and "1024 to 65535" in result.stderr
    assert result.stdout == ""


def test_a_taken_port_fails_with_the_fix_and_prints_no_address(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = payments("console", "--port", str(port), PAYMENTS_STATE_DIR=str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr and "choose another --port" in result.stderr
    assert result.stdout == "", "no sign-in address for a console that does not serve"


def test_help_teaches_the_console() -> None:
    result = payments("console", "--help")
    assert result.returncode == 0
    assert "127.0.0.1" in result.stdout and "works once" in result.stdout and "exit status" in result.stdout
