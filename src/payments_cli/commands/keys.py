"""``payments keys``: create, list and revoke merchants' API keys of a deployment.

Every action runs in the deployment's admin function (``payment_processor.admin``): on the local
target from the deployed zip, on AWS by invoking the function with your credentials. The database
stays private either way, and a key's secret is printed once, by ``create``, and stored nowhere.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from payments_cli.commands import EXIT_OK
from payments_cli.commands.common import add_admin_flags, guarded, invoke_admin, print_listing

EXAMPLES = """examples:
  payments keys create --merchant acme                     # a secret key (sk_test_...) for merchant acme
  payments keys create --merchant acme --read-only --format json
  payments keys list --merchant acme
  payments keys revoke key_abcdefghijklmnopqrstuvwxyz

  curl -s $URL/payments -H "Authorization: Bearer $SECRET" -H 'Idempotency-Key: k1' \\
       -H 'Content-Type: application/json' -d '{"amount": 1999, "currency": "EUR", "payment_method": "tok_visa"}'

exit status: 0 done, 1 failed (not deployed, no such key, the admin function failed), 2 bad usage"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys`` and its actions."""
    parser = commands.add_parser(
        "keys",
        help="create, list and revoke merchants' API keys",
        description=(
            "Manage the API keys merchants authenticate with (Authorization: Bearer <secret>). Secret keys "
            "(sk_test_/sk_live_) read and write; read-only keys (rk_test_/rk_live_) only read; live keys exist "
            "only in prod. A key's secret is shown once, when it is created: only a keyed hash of it is stored. "
            "A revoked key stops working within the API authorizer's cache time (seconds in dev, at most 5 minutes)."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="issue a new key and print its secret (once)", epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    create.add_argument("--merchant", required=True, metavar="MERCHANT_ID", help="the merchant the key acts for")
    create.add_argument("--read-only", action="store_true", help="a restricted key (rk_...): GET only")
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--merchant", metavar="MERCHANT_ID", help="only this merchant's keys")
    revoke = actions.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id (key_...), from `payments keys list`")
    for action in (create, listing, revoke):
        add_admin_flags(action)
    parser.set_defaults(run=run)


def _payload(args: argparse.Namespace) -> dict[str, Any]:
    if args.action == "create":
        return {"action": "create_key", "merchant_id": args.merchant, "read_only": args.read_only}
    if args.action == "list":
        return {"action": "list_keys", "merchant_id": args.merchant}
    return {"action": "revoke_key", "key_id": args.key_id}


def _describe(key: dict[str, Any]) -> str:
    kind = "read-only" if key["read_only"] else "read-write"
    revoked = f", revoked {key['revoked_at']}" if key.get("revoked_at") else ""
    return f"{key['id']}  {key['merchant_id']}  {key['redacted_secret']}  {kind}  created {key['created_at']}{revoked}"


def run(args: argparse.Namespace) -> int:
    """Do the action; print the result."""

    def body() -> int:
        answer = invoke_admin(args, _payload(args))
        if args.action == "list":
            keys = answer["keys"]
            print_listing(keys, as_json=args.format == "json", describe=_describe, count=f"{len(keys)} key(s)")
            return EXIT_OK
        key = answer["key"]
        if args.format == "json":
            print(json.dumps(key, indent=2))
        elif args.action == "create":
            print(f"created {_describe(key)}")
            print(f"\n  secret: {key['secret']}\n")
            print("This is the only time the secret is shown; store it now. It is stored nowhere, only its hash.")
        else:
            print(f"revoked {_describe(key)}")
        return EXIT_OK

    return guarded(f"keys {args.action}", body)
