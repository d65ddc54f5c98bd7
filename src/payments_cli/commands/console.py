"""``payments console``: a web console for one deployment, on 127.0.0.1, until interrupted.

The first line of standard output is the address to open, with a one-time token (``http://127.0.0.1:PORT/?token=
…``); the browser that opens it gets a session cookie and the token is spent. Every page is read through the
deployment's admin function with your own credentials (on the local target from the deployed zip), so the
console opens nothing to the internet and works the same on both targets.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from payments_cli.commands import EXIT_OK
from payments_cli.commands.common import add_deployment, guarded, invoke_admin
from payments_cli.errors import PaymentsError

EXAMPLES = """examples:
  payments console                            # the local dev deployment, on a free port
  payments console --suffix pr42 --port 8700  # another deployment, on a port of your choosing
  payments console --env staging --suffix main --target aws --profile ops

The first line printed is the address to open (it works once). Pages: the overview (payments per minute and
hour by outcome, the authorization rate, work in hand, failing webhook endpoints, alarms), payments (search by
id, merchant, status, amount, time) and a payment's timeline, API keys (create, revoke), webhooks (endpoints,
attempts, redeliver) and the deployment. Changes are recorded in the audit log as yours.

exit status: 0 stopped with Ctrl-C, 1 failed (the port is taken), 2 bad usage"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``console``."""
    parser = commands.add_parser(
        "console",
        help="open a web console for a deployment in your browser (127.0.0.1 only)",
        description="Serve a web console for one deployment on 127.0.0.1 until interrupted.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=port, default=0, metavar="P", help="the port to serve on (default: a free one)")
    add_deployment(parser)
    parser.add_argument(
        "--target",
        choices=("local", "aws"),
        default="local",
        help="local: the deployment on this machine (default); aws: read it through its admin function in your "
        "account, with your credentials",
    )
    parser.add_argument("--profile", default=None, help="AWS profile for --target aws")
    parser.set_defaults(run=run)


def port(text: str) -> int:
    """0 (a free port) or 1024 to 65535."""
    if not text.isdigit() or not (int(text) == 0 or 1024 <= int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 1024 to 65535 (or 0 for a free one)")
    return int(text)


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C."""
    from payments_cli.console.app import AdminRefused, AdminUnavailable, ConsoleApp
    from payments_cli.console.server import ConsoleServer

    warm: list[Any] = []  # the local admin function's worker, started on the first page and kept for the rest
    starting = threading.Lock()

    def ask(payload: dict[str, Any]) -> dict[str, Any]:
        if args.target == "aws":
            return invoke_admin(args, payload)
        with starting:
            if not warm:
                from payments_cli.deploy.state import StateFolder
                from payments_cli.local.lambda_runtime.functions import AdminFunction

                warm.append(AdminFunction(StateFolder(), args.env, args.suffix))
        answer: dict[str, Any] = warm[0].invoke(payload)
        if answer.get("audit_error"):  # as invoke_admin says it on the aws target; the page shows it too
            print(f"warning: {answer['audit_error']}", file=sys.stderr)
        return answer

    def admin(payload: dict[str, Any]) -> dict[str, Any]:
        """One read of the admin function; its refusal of the request (a bad filter, an unknown payment) is the
        page's to show, anything else means the deployment could not answer."""
        try:
            return ask(payload)
        except PaymentsError as exc:
            code = getattr(exc, "code", None)
            if code in ("invalid_request", "not_found", "conflict"):
                raise AdminRefused(str(code), str(exc)) from None
            raise AdminUnavailable(str(exc)) from None

    def describe_deployment() -> dict[str, Any]:
        from payments_cli.console.deployment import describe
        from payments_cli.deploy.state import StateFolder
        from payments_cli.local.records import read_record

        record = None
        if args.target == "local":
            record = read_record(StateFolder().deployment_dir(args.env, args.suffix))
        return describe(args.env, args.suffix, record)

    def body() -> int:
        server = ConsoleServer(args.port)
        from payments_cli.console.alarms import alarm_reader

        app = ConsoleApp(
            deployment=f"{args.env}/{args.suffix}",
            port=server.port,
            admin=admin,
            describe=describe_deployment,
            alarms=alarm_reader(args.target, args.env, args.suffix, args.profile),
        )
        server.app = app
        print(f"{app.origin}/?token={app.sessions.token}", flush=True)
        print(f"console for {args.env}/{args.suffix} ({args.target}) on {app.origin}; Ctrl-C stops it", file=sys.stderr)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            for admin_function in warm:
                admin_function.close()
        return EXIT_OK

    return guarded("console", body)
