"""``payments down``: stop a deployment's API server (and destroy it, with --destroy); stop the
emulator and PostgreSQL when no deployment is served any more and no other command is using them."""

from __future__ import annotations

import argparse

from payments_cli.commands import EXIT_OK
from payments_cli.commands.common import add_deployment, add_lock_timeout, guarded


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``down``."""
    parser = commands.add_parser(
        "down",
        help="stop a local deployment (--destroy: and remove it), then idle services",
        description=(
            "Stop the API server of ENV/SUFFIX. With --destroy, first destroy all its resources in the emulator "
            "(platform and state bucket) and drop its database. When no deployment is served any more and no other "
            "payments command is deploying, planning or destroying, stop the moto server and PostgreSQL too. "
            "PostgreSQL's data is kept on disk; the emulator keeps its resources in memory, so after it stops "
            "`payments up` deploys afresh. --all stops every deployment."
        ),
        epilog="example: payments down --destroy",
    )
    add_deployment(parser)
    parser.add_argument("--destroy", action="store_true", help="destroy the deployment before stopping")
    parser.add_argument("--all", action="store_true", help="stop every deployment's API server and the services")
    add_lock_timeout(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Stop (and destroy) what was asked."""
    from payments_cli.deploy.state import StateFolder
    from payments_cli.local import api_process, target
    from payments_cli.local.services import stop_services

    def body() -> int:
        state = StateFolder()
        if args.destroy:
            target.destroy(state, args.env, args.suffix, lock_timeout=args.lock_timeout)
            print(f"destroyed {args.env}/{args.suffix}")
        targets = (
            [(r["environment"], r["suffix"]) for r in api_process.served(state)]
            if args.all
            else [(args.env, args.suffix)]
        )
        for environment, suffix in targets:
            if api_process.stop_api(state, environment, suffix):
                print(f"stopped the API server of {environment}/{suffix}")
        if not any(record.get("api_alive") for record in api_process.served(state)):
            for stopped in stop_services(state):
                print(f"stopped {stopped}")
        return EXIT_OK

    return guarded("down", body)
