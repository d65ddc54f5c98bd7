"""A throwaway or persistent PostgreSQL server on 127.0.0.1, standing in for RDS.

PostgreSQL refuses to run as root, and sessions and CI run as root: then the server runs as the
``postgres`` system user (``runuser``), and its data folder is handed to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from payments_cli.errors import PaymentsError
from payments_cli.local.ports import free_port, wait_for_port


class PostgresNotInstalled(PaymentsError):
    """No PostgreSQL server binaries were found."""


def find_bindir() -> Path:
    """The folder holding initdb/pg_ctl/postgres: $PG_BINDIR, PATH, or the newest /usr/lib/postgresql/*/bin."""
    candidates = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    candidates.extend(Path(p) for p in versions)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise PostgresNotInstalled(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install them with "
        "`apt-get install -y postgresql` or set PG_BINDIR to their folder"
    )


@dataclass
class LocalPostgres:
    """A PostgreSQL cluster in ``data_dir`` on 127.0.0.1:``port``.

    The superuser ``postgres`` connects without a password over loopback; every other role needs its
    password (scram-sha-256), as on RDS.
    """

    data_dir: Path
    port: int = 0

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.bindir = find_bindir()
        self._as_postgres = os.geteuid() == 0
        if not self.port:
            self.port = free_port()

    @property
    def superuser_dsn(self) -> str:
        """Connection string for the superuser (trusted over loopback only)."""
        return self.superuser_dsn_for("postgres")

    def superuser_dsn_for(self, database: str) -> str:
        """The superuser's connection string for one database."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603

    def init(self) -> None:
        """Create the cluster if the folder holds none."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            # The server user must be able to reach its folder through every parent.
            for parent in self.data_dir.parents:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
        result = self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr.strip()[-2000:]}")
        # Like RDS, application roles must present their password; only the local superuser, which
        # the tooling uses to create roles and databases, is trusted (and only over loopback).
        (self.data_dir / "pg_hba.conf").write_text(
            "# written by payments_cli.local.postgres\n"
            "host  all postgres 127.0.0.1/32 trust\n"
            "host  all all      127.0.0.1/32 scram-sha-256\n"
        )

    def start(self, *, timeout_s: float = 30) -> None:
        """Start the server (fsync off: this is a stand-in, not a durable store)."""
        # TCP on loopback only, no Unix-domain socket (-k ''): everything connects to 127.0.0.1, and a socket in the
        # data folder failed to start the server once its path passed 107 bytes ("Unix-domain socket path ... is too
        # long"), as under a deep TMPDIR.
        options = (
            f"-p {self.port} -h 127.0.0.1 -k '' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        result = self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-l",
            str(self.data_dir / "server.log"),
            "-w",
            "-t",
            str(int(timeout_s)),
            "start",
        )
        if result.returncode != 0:
            log = (
                (self.data_dir / "server.log").read_text(errors="replace")[-2000:]
                if (self.data_dir / "server.log").exists()
                else ""
            )
            raise RuntimeError(f"PostgreSQL did not start on port {self.port}: {result.stderr.strip()} {log}")
        wait_for_port(self.port, timeout_s=timeout_s, what="PostgreSQL")

    def stop(self) -> None:
        """Stop the server quickly; a no-op when it is not running."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def is_running(self) -> bool:
        """True if the cluster's postmaster is up."""
        return self._run("pg_ctl", "-D", str(self.data_dir), "status").returncode == 0
