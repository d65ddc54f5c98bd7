"""The local PostgreSQL server starts wherever its folder is: it listens on 127.0.0.1 alone, with no Unix-domain
socket, whose path PostgreSQL caps at 107 bytes (`payments demo` under a deep TMPDIR once failed with "Unix-domain
socket path ... is too long")."""

from __future__ import annotations

from pathlib import Path

import psycopg

from payments_cli.local.postgres import LocalPostgres


def test_a_server_in_a_folder_too_deep_for_a_unix_socket_starts_and_answers_over_tcp(tmp_path: Path) -> None:
    data = tmp_path / ("d" * 60) / ("e" * 60) / "pg"
    assert len(str(data / ".s.PGSQL.65535")) > 107
    postgres = LocalPostgres(data)
    postgres.init()
    postgres.start()
    try:
        with psycopg.connect(postgres.superuser_dsn) as conn:
            assert conn.execute("SELECT current_setting('unix_socket_directories')").fetchone() == ("",)
            assert conn.execute("SELECT current_setting('listen_addresses')").fetchone() == ("127.0.0.1",)
        assert not list(data.glob(".s.PGSQL.*"))
    finally:
        postgres.stop()
    assert not postgres.is_running()
