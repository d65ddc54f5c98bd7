"""``payments connectors``: set, list and remove a merchant's acquirer connectors in a deployment.

Every action runs in the deployment's admin function (``payment_processor.admin``), as ``payments keys`` does:
on the local target from the deployed zip, on AWS by invoking the function with your credentials. A Stripe
secret key is read from standard input (never a flag: it would be in the shell's history and ``ps``), goes to
its own Secrets Manager secret, and is never printed, listed or logged.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from payments_cli.commands import EXIT_OK, EXIT_USAGE
from payments_cli.commands.common import add_admin_flags, guarded, invoke_admin, print_listing
from payments_cli.errors import PaymentsError

EXAMPLES = """examples:
  printf '%s' "$STRIPE_SECRET_KEY" | payments connectors set --merchant acme --connector stripe --secret-stdin
  payments connectors set --merchant acme --connector simulated --priority 2      # tried when stripe refuses
  payments connectors set --merchant acme --connector stripe --endpoint http://127.0.0.1:8420 --secret-stdin \\
      < key.txt                                                                  # a Stripe-compatible server
  payments connectors list --merchant acme --format json
  payments connectors remove --merchant acme --connector simulated

Priority 1 is tried first. A payment moves to the next connector only when the previous one refused it before
processing anything (it could not be reached, or said so); after an unknown outcome (a timeout once the request
was sent) it is asked again at the same acquirer, never elsewhere. A merchant with no connector is answered by
the simulated acquirer in dev and staging, and refused (503 no_connector) in prod.

exit status: 0 done, 1 failed (not deployed, no such connector, the admin function failed), 2 bad usage"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``connectors`` and its actions."""
    parser = commands.add_parser(
        "connectors",
        help="set, list and remove a merchant's acquirers (Stripe, simulated)",
        description=(
            "Configure which acquirers a merchant's payments go to, in priority order. Credentials go only into "
            "Secrets Manager (one secret per merchant connector, encrypted with the deployment's key); this "
            "command never shows them. Changes reach the API within a minute (the processor's cache)."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    setting = actions.add_parser(
        "set",
        help="add or change one of a merchant's connectors",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    setting.add_argument("--connector", required=True, choices=("stripe", "simulated"), help="the acquirer")
    setting.add_argument("--priority", type=int, default=1, metavar="N", help="1 is tried first (default 1)")
    setting.add_argument(
        "--endpoint",
        metavar="URL",
        help="the API base of a Stripe-compatible server (default Stripe's own); https only outside dev",
    )
    setting.add_argument(
        "--secret-stdin",
        action="store_true",
        help="read the connector's secret key (Stripe: sk_... or rk_...) from standard input; required for stripe",
    )
    listing = actions.add_parser("list", help="a merchant's connectors in priority order (never their secrets)")
    removing = actions.add_parser("remove", help="remove one of a merchant's connectors and its secret")
    removing.add_argument("--connector", required=True, choices=("stripe", "simulated"), help="the acquirer")
    for action in (setting, listing, removing):
        action.add_argument("--merchant", required=True, metavar="MERCHANT_ID", help="the merchant")
        add_admin_flags(action)
    parser.set_defaults(run=run)


class UsageError(PaymentsError):
    """A command line that cannot be right; the message says how to fix it (exit 2)."""

    exit_code = EXIT_USAGE


def _payload(args: argparse.Namespace) -> dict[str, Any]:
    if args.action == "list":
        return {"action": "list_connectors", "merchant_id": args.merchant}
    if args.action == "remove":
        return {"action": "remove_connector", "merchant_id": args.merchant, "connector": args.connector}
    payload: dict[str, Any] = {
        "action": "set_connector",
        "merchant_id": args.merchant,
        "connector": args.connector,
        "priority": args.priority,
    }
    if args.endpoint is not None:
        payload["endpoint"] = args.endpoint
    if args.connector == "stripe" and not args.secret_stdin:
        raise UsageError("stripe needs its secret key: pass --secret-stdin and write the key to standard input")
    if args.secret_stdin:
        if sys.stdin.isatty():
            print("paste the secret key, then press Ctrl-D (better: pipe it in, as the examples do)", file=sys.stderr)
        secret = sys.stdin.read().strip()
        if not secret:
            raise UsageError("--secret-stdin read nothing: write the secret key to standard input")
        payload["secret"] = secret
    return payload


def _describe(entry: dict[str, Any]) -> str:
    endpoint = f"  {entry['endpoint']}" if entry.get("endpoint") else ""
    return f"{entry['priority']}  {entry['connector']}{endpoint}"


def run(args: argparse.Namespace) -> int:
    """Do the action; print the result (never a secret)."""

    def body() -> int:
        answer = invoke_admin(args, _payload(args))
        if args.action == "list":
            entries = answer["connectors"]
            count = f"{len(entries)} connector(s) for {args.merchant}"
            print_listing(entries, as_json=args.format == "json", describe=_describe, count=count)
            return EXIT_OK
        entry = answer["connector"]
        if args.format == "json":
            print(json.dumps(entry, indent=2))
        else:
            print(f"{'set' if args.action == 'set' else 'removed'} {args.merchant}: {_describe(entry)}")
        return EXIT_OK

    return guarded(f"connectors {args.action}", body)
