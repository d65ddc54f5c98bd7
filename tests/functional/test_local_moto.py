"""The local AWS emulator's process: started, found and stopped by the MotoServer that owns it."""

from __future__ import annotations

import os
from pathlib import Path

from payments_cli.local.emulator import MotoServer


def test_the_server_reports_its_process_id_only_while_it_runs() -> None:
    # The processor bench reads the emulator's CPU time from /proc/<pid> around each timed block.
    server = MotoServer()
    assert server.pid is None
    server.start()
    try:
        pid = server.pid
        assert pid is not None and pid != os.getpid()
        assert "moto" in Path(f"/proc/{pid}/cmdline").read_bytes().decode().replace("\0", " ")
    finally:
        server.stop()
    assert server.pid is None
    assert not Path(f"/proc/{pid}").exists()
