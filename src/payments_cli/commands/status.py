"""``payments status``: what is deployed and running on this machine."""

from __future__ import annotations

import argparse
import json
from typing import Any

from payments_cli.commands import EXIT_OK


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``status``."""
    parser = commands.add_parser(
        "status",
        help="deployments, their API URLs, the processes running and the emulator endpoint",
        description="Show every local deployment, whether its API server is running, and the background services.",
        epilog="example: payments status --format json | jq '.deployments[].url'",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    parser.set_defaults(run=run)


def collect() -> dict[str, object]:
    """The status document."""
    from payments_cli.deploy.state import StateFolder
    from payments_cli.local.api_process import served
    from payments_cli.local.services import postgres_for, running_emulator

    state = StateFolder()
    emulator = running_emulator(state)
    postgres = postgres_for(state) if (state.root / "postgres" / "data" / "PG_VERSION").exists() else None
    running = postgres is not None and postgres.is_running()
    deployments = []
    for record in served(state):
        api = record.get("api", {})
        current = emulator is not None and record.get("emulator_generation") == emulator.generation
        deployments.append(
            {
                "environment": record.get("environment"),
                "suffix": record.get("suffix"),
                "url": api.get("url") if record.get("api_alive") else None,
                "api_server": {"pid": api.get("pid"), "port": api.get("port"), "running": record.get("api_alive")},
                "deployed_in_running_emulator": current,
                "database": record.get("database"),
                "rest_api_id": record.get("outputs", {}).get("rest_api_id"),
                "transaction_log_bucket": record.get("outputs", {}).get("transaction_log_bucket"),
                "outbox": outbox_health(postgres, str(record.get("database"))) if running and postgres else None,
            }
        )
    return {
        "state_dir": str(state.root),
        "emulator": {"endpoint": emulator.endpoint, "pid": emulator.pid} if emulator else None,
        "postgres": {"port": postgres.port, "running": running, "data": str(postgres.data_dir)} if postgres else None,
        "deployments": deployments,
    }


def outbox_health(postgres: Any, database: str) -> dict[str, Any] | None:
    """The deployment's transaction-log outbox: waiting events, dead-lettered ones, the oldest's age."""
    import psycopg

    from payment_processor.store.postgres import OUTBOX_HEALTH_SQL

    try:
        with psycopg.connect(postgres.superuser_dsn_for(database)) as conn:
            row = conn.execute(OUTBOX_HEALTH_SQL).fetchone()
    except psycopg.Error:
        return None  # not migrated yet, or gone: status still answers
    assert row is not None
    return {"pending": int(row[0]), "dead_lettered": int(row[1]), "oldest_pending_age_s": round(float(row[2]), 1)}


def run(args: argparse.Namespace) -> int:
    """Print the status."""
    status = collect()
    if args.format == "json":
        print(json.dumps(status, indent=2))
        return EXIT_OK
    emulator = status["emulator"]
    postgres = status["postgres"]
    print(f"state      {status['state_dir']}")
    print(f"emulator   {emulator['endpoint'] + ' (pid ' + str(emulator['pid']) + ')' if emulator else 'not running'}")  # type: ignore[index]
    print(
        "postgres   "
        + (f"127.0.0.1:{postgres['port']} ({'running' if postgres['running'] else 'stopped'})" if postgres else "none")  # type: ignore[index]
    )
    deployments = status["deployments"]
    if not deployments:
        print("no deployments: `payments up` creates one")
    for d in deployments:  # type: ignore[attr-defined]
        where = d["url"] or "not served"
        stale = "" if d["deployed_in_running_emulator"] else "  (emulator restarted: run `payments up` again)"
        print(f"{d['environment']}/{d['suffix']:<12} {where}{stale}")
        box = d["outbox"]
        if box:
            dead = f", {box['dead_lettered']} DEAD-LETTERED (last_error in the outbox)" if box["dead_lettered"] else ""
            waiting = f"{box['pending']} event(s) waiting for S3, oldest {box['oldest_pending_age_s']:.0f}s"
            print(f"  transaction log: {waiting}{dead}")
    return EXIT_OK
