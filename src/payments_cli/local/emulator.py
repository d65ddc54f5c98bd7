"""The local AWS emulator: a moto server process on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from payments_cli.local.ports import free_port, wait_for_port

#: Credentials moto accepts; never real ones.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass
class MotoServer:
    """``moto_server`` on 127.0.0.1:``port``, with IAM's AWS-managed policies loaded."""

    port: int = 0
    log_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.port:
            self.port = free_port()

    @property
    def endpoint(self) -> str:
        """The URL to give the AWS SDK and terraform as their endpoint."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout_s: float = 30) -> None:
        """Start the server and wait until it answers."""
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            wait_for_port(self.port, timeout_s=timeout_s, what="moto server")
        except TimeoutError:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server process."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
