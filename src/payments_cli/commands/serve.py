"""``payments serve``: serve a deployed API in the foreground (``payments up`` runs it in the background)."""

from __future__ import annotations

import argparse

from payments_cli.commands.common import add_deployment, guarded


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve``."""
    parser = commands.add_parser(
        "serve",
        help="serve a locally deployed API in the foreground (Ctrl-C stops it)",
        description=(
            "Read the deployment's routes, integrations and stages back from the emulator's API Gateway and its "
            "functions' configuration from its Lambda, then answer HTTP on 127.0.0.1: each request becomes an API "
            "Gateway proxy event (v1) run by the handler from the deployed zip under CPython 3.12, with the "
            "function's deployed environment (database mapped to the local PostgreSQL, AWS SDK to the emulator)."
        ),
        epilog="example: payments serve --suffix local --port 8080",
    )
    add_deployment(parser)
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from payments_cli.deploy.state import StateFolder
    from payments_cli.local.ports import wait_for_port
    from payments_cli.local.serve import serve_forever

    def body() -> int:
        try:
            wait_for_port(args.port, timeout_s=0.2, what="")
        except TimeoutError:
            return serve_forever(StateFolder(), args.env, args.suffix, args.port)
        from payments_cli.errors import ServeError

        raise ServeError(f"port {args.port} on 127.0.0.1 is taken: choose another with --port")

    return guarded("serve", body)
