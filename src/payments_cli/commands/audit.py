"""``payments audit``: the deployment's audit log of operator actions, newest first.

Read through the deployment's admin function, as ``payments keys`` is: on the local target from the deployed zip,
on AWS by invoking the function with your credentials. Every action that changes something (setup, keys created,
rolled or revoked, connectors set, removed or forgotten) is there once it has run, been refused or failed, with
the identity the command ran as. No secret is ever in it.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from payments_cli.commands import EXIT_OK
from payments_cli.commands.common import add_admin_flags, guarded, invoke_admin, print_listing
from payments_cli.commands.keys import duration

EXAMPLES = """examples:
  payments audit                                  # the last 100 entries
  payments audit --since 24h                      # what operators did in the last day
  payments audit --since 2026-12-01T00:00:00Z --limit 1000 --format json

Each entry: when, who (the AWS caller's ARN, or local:<user>@<host>), the action, its target (a key, or a
merchant's connector), the outcome (ok, refused with its code, failed) and a few details; never a secret.

exit status: 0 done, 1 failed (not deployed, not set up, the admin function failed), 2 bad usage"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit``."""
    parser = commands.add_parser(
        "audit",
        help="list what operators did to a deployment (keys, connectors, setup)",
        description=(
            "List the deployment's append-only audit log of operator actions, newest first: who did what, to "
            "what, when, and how it ended."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--since",
        type=since,
        metavar="WHEN",
        help="only entries from then on: a duration back from now (24h, 7d) or an ISO 8601 time with its zone",
    )
    parser.add_argument(
        "--limit", type=limit, default=100, metavar="N", help="at most N entries, 1 to 1000 (default 100)"
    )
    add_admin_flags(parser)
    parser.set_defaults(run=run)


def since(text: str) -> str:
    """``24h``/``7d`` (back from now) or an ISO 8601 time with a zone, as the ISO time the admin function takes."""
    try:
        return (datetime.now(UTC) - timedelta(seconds=duration(text))).isoformat()
    except argparse.ArgumentTypeError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a duration (24h, 7d) nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone: add one, e.g. {text}Z or {text}+01:00")
    return moment.isoformat()


def limit(text: str) -> int:
    """A whole number from 1 to 1000."""
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 1 to 1000")
    return int(text)


def _describe(entry: dict[str, Any]) -> str:
    code = entry["detail"].get("code")
    outcome = f"{entry['outcome']} ({code})" if code else entry["outcome"]
    return f"{entry['at']}  {entry['actor']}  {entry['action']}  {entry.get('target') or '-'}  {outcome}"


def run(args: argparse.Namespace) -> int:
    """List the entries."""

    def body() -> int:
        payload: dict[str, Any] = {"action": "list_audit", "limit": args.limit}
        if args.since is not None:
            payload["since"] = args.since
        entries = invoke_admin(args, payload)["entries"]
        print_listing(entries, as_json=args.format == "json", describe=_describe, count=f"{len(entries)} entry(ies)")
        return EXIT_OK

    return guarded("audit", body)
