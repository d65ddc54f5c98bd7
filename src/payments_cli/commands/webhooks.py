"""``payments webhooks listen``: receive a local deployment's webhooks on a URL of yours (like ``stripe listen``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from payments_cli.commands import EXIT_OK
from payments_cli.commands.common import add_deployment, guarded

EXAMPLES = """examples:
  payments webhooks listen --merchant acme --forward-to http://127.0.0.1:4242/hooks
  payments webhooks listen --suffix pr42 --merchant acme --forward-to http://127.0.0.1:4242/hooks \\
      --events payment.succeeded refund.succeeded

  Each delivery prints one line: the event's type, its id, and what your receiver answered. Verify them with
  the printed secret, e.g. in Python: standardwebhooks.Webhook(secret).verify(body, headers)

exit status: 0 stopped with Ctrl-C (the endpoint removed), 1 failed (not deployed, not served, the endpoint
could not be made or removed), 2 bad usage"""

#: Seconds between runs of the deployment's reconcile function while listening (it dispatches the deliveries).
DISPATCH_EVERY_S = 2.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``webhooks`` and its action ``listen``."""
    parser = commands.add_parser(
        "webhooks",
        help="receive a local deployment's webhooks on a URL of yours",
        description="Webhook tools for a deployment on this machine.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listen = actions.add_parser(
        "listen",
        help="forward a merchant's webhooks to a URL until Ctrl-C",
        description=(
            "Make a temporary webhook endpoint for MERCHANT on the local deployment, print its id and signing "
            "secret, and forward each delivery to --forward-to with its Standard Webhooks headers intact (they "
            "verify with that secret). Your receiver's answer goes back to the platform: answer 2xx to accept, "
            "anything else and the delivery is retried on the platform's schedule. Ctrl-C removes the endpoint "
            "and the temporary API key it used."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_deployment(listen)
    listen.add_argument("--merchant", required=True, metavar="MERCHANT_ID", help="whose events to receive")
    listen.add_argument("--forward-to", required=True, metavar="URL", help="where to POST each delivery")
    listen.add_argument(
        "--events",
        nargs="+",
        default=["*"],
        metavar="TYPE",
        help="the event types to receive, e.g. payment.succeeded refund.succeeded (default: every type)",
    )
    listen.add_argument(
        "--dispatch-every",
        type=float,
        default=DISPATCH_EVERY_S,
        metavar="SECONDS",
        help=f"run the deployment's reconcile job this often so deliveries come within seconds (default "
        f"{DISPATCH_EVERY_S:g}; 0: leave it to the served schedule, once a minute)",
    )
    listen.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return guarded("webhooks listen", lambda: _listen(args))


def _listen(args: argparse.Namespace) -> int:
    from payments_cli.deploy.state import StateFolder
    from payments_cli.local.lambda_runtime.functions import deployment_context, function_runtime, invoke_admin
    from payments_cli.local.listen import (
        Forwarder,
        ListenError,
        Session,
        checked_forward_to,
        close_endpoint,
        delivery_line,
        open_endpoint,
    )

    checked_forward_to(args.forward_to)
    if args.dispatch_every < 0:
        raise ListenError("--dispatch-every is 0 or more seconds", exit_code=2)
    state = StateFolder()
    record, emulator, postgres_port = deployment_context(state, args.env, args.suffix)
    api_url = str((record.get("api") or {}).get("url") or "")
    if not api_url:
        raise ListenError(f"{args.env}/{args.suffix} is not served: run `payments up --suffix {args.suffix}`")
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    made = invoke_admin(
        state, args.env, args.suffix, {"action": "create_key", "merchant_id": args.merchant, "read_only": False}
    )
    session = Session(key_id=str(made["key"]["id"]), secret=str(made["key"]["secret"]))
    forwarder = Forwarder(args.forward_to, lambda f: print(delivery_line(f), flush=True)).start()
    reconcile = None
    try:
        open_endpoint(api_url, session, forwarder.url, list(args.events), sys.stdout)
        if args.dispatch_every > 0:
            name = next(str(n) for n in record["outputs"]["function_names"] if "-reconcile-" in str(n))
            reconcile = function_runtime(
                state,
                args.env,
                args.suffix,
                name,
                record=record,
                emulator=emulator,
                postgres_port=postgres_port,
                concurrency=1,
            )
        while not stopping.is_set():
            if reconcile is not None:
                reconcile.invoke({})
            stopping.wait(args.dispatch_every or 1.0)
    finally:
        if reconcile is not None:
            reconcile.close()
        forwarder.stop()
        removed = close_endpoint(api_url, session)
        invoke_admin(state, args.env, args.suffix, {"action": "revoke_key", "key_id": session.key_id})
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not removed:
        raise ListenError(
            f"the endpoint {session.endpoint_id} could not be removed: delete it with "
            f"DELETE /webhook_endpoints/{session.endpoint_id}"
        )
    print(f"removed {session.endpoint_id}", file=sys.stderr)
    return EXIT_OK
