"""The local AWS emulator: a moto server process on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from payments_cli.local.ports import free_port, wait_for_port

#: Credentials moto accepts; never real ones.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
EMULATOR_REGION = "us-east-1"
#: The account id moto gives every resource (ARNs the local edge and runtime make use it too).
EMULATOR_ACCOUNT = "123456789012"


def emulator_client(endpoint: str, service: str) -> Any:
    """A boto3 client of ``service`` on the emulator at ``endpoint``, with its test credentials; few retries
    and short timeouts, so an emulator that is down is said at once rather than after minutes."""
    import boto3  # here, not at the top: the modules importing this one for the credentials need no SDK
    from botocore.config import Config

    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=EMULATOR_REGION,
        endpoint_url=endpoint,
        aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=60),
    )


@dataclass
class MotoServer:
    """``moto_server`` on 127.0.0.1:``port``, with IAM's AWS-managed policies loaded.

    ``module`` is the server's entry point: moto's own, or ``payments_cli.local.moto_server`` (moto with the
    local target's fixes)."""

    port: int = 0
    log_path: Path | None = None
    module: str = "moto.server"
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.port:
            self.port = free_port()

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (the bench reads its CPU time)."""
        return self._process.pid if self._process is not None else None

    @property
    def endpoint(self) -> str:
        """The URL to give the AWS SDK and terraform as their endpoint."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout_s: float = 30) -> None:
        """Start the server and wait until it answers."""
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", self.module, "-H", "127.0.0.1", "-p", str(self.port)],
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
