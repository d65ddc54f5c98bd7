"""``payments keys``: create, roll, list and revoke merchants' API keys of a deployment.

Every action runs in the deployment's admin function (``payment_processor.admin``): on the local
target from the deployed zip, on AWS by invoking the function with your credentials. The database
stays private either way, and a key's secret is printed once, by ``create``, and stored nowhere.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from payments_cli.commands import EXIT_OK
from payments_cli.commands.common import add_admin_flags, guarded, invoke_admin, print_listing

EXAMPLES = """examples:
  payments keys create --merchant acme                     # a secret key (sk_test_...) for merchant acme
  payments keys create --merchant acme --read-only --format json
  payments keys create --merchant acme --expires-in 90d     # stops working 90 days from now
  payments keys roll key_abcdefghijklmnopqrstuvwxyz --overlap 24h   # a new secret; the old one works 24 more hours
  payments keys list --merchant acme                       # expiry and last use (to the hour) of each
  payments keys revoke key_abcdefghijklmnopqrstuvwxyz

  curl -s $URL/payments -H "Authorization: Bearer $SECRET" -H 'Idempotency-Key: k1' \\
       -H 'Content-Type: application/json' -d '{"amount": 1999, "currency": "EUR", "payment_method": "tok_visa"}'

exit status: 0 done, 1 failed (not deployed, no such key, a key that cannot be rolled, the admin function failed),
2 bad usage"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys`` and its actions."""
    parser = commands.add_parser(
        "keys",
        help="create, roll, list and revoke merchants' API keys",
        description=(
            "Manage the API keys merchants authenticate with (Authorization: Bearer <secret>). Secret keys "
            "(sk_test_/sk_live_) read and write; read-only keys (rk_test_/rk_live_) only read; live keys exist "
            "only in prod. A key's secret is shown once, when it is created: only a keyed hash of it is stored. "
            "A revoked key stops working within the API authorizer's cache time (seconds in dev, at most 5 minutes). "
            "A key may expire (--expires-in); rolling a key issues its replacement and ends the old one after an "
            "overlap, so clients can move to the new secret first. An expired key is answered 401 invalid_api_key "
            "with a message that says it expired."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="issue a new key and print its secret (once)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument("--merchant", required=True, metavar="MERCHANT_ID", help="the merchant the key acts for")
    create.add_argument("--read-only", action="store_true", help="a restricted key (rk_...): GET only")
    create.add_argument(
        "--expires-in",
        type=duration,
        metavar="DURATION",
        help="the key stops working this long from now: 1h to 1095d, e.g. 90d, 36h (default: never)",
    )
    roll = actions.add_parser(
        "roll",
        help="issue a key's replacement and print its secret (once)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    roll.add_argument("key_id", metavar="KEY_ID", help="the key to replace (key_...), from `payments keys list`")
    roll.add_argument(
        "--overlap",
        type=duration,
        default=0,
        metavar="DURATION",
        help="how long the old key keeps working beside the new one: 0 to 7d, e.g. 24h (default 0: "
        "it stops within the authorizer's cache time)",
    )
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--merchant", metavar="MERCHANT_ID", help="only this merchant's keys")
    revoke = actions.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id (key_...), from `payments keys list`")
    for action in (create, roll, listing, revoke):
        add_admin_flags(action)
    parser.set_defaults(run=run)


_DURATION = re.compile(r"(\d{1,7})([smhd]?)")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> int:
    """``90d``, ``24h``, ``30m``, ``45s`` or ``0`` as whole seconds (argparse: bad usage, exit 2, otherwise)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or (match.group(2) == "" and match.group(1) != "0"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: give a number and a unit, e.g. 90d, 24h, 30m")
    return int(match.group(1)) * _UNIT_S.get(match.group(2), 1)


def _payload(args: argparse.Namespace) -> dict[str, Any]:
    if args.action == "create":
        payload = {"action": "create_key", "merchant_id": args.merchant, "read_only": args.read_only}
        return payload if args.expires_in is None else {**payload, "expires_in_s": args.expires_in}
    if args.action == "roll":
        return {"action": "roll_key", "key_id": args.key_id, "overlap_s": args.overlap}
    if args.action == "list":
        return {"action": "list_keys", "merchant_id": args.merchant}
    return {"action": "revoke_key", "key_id": args.key_id}


def _describe(key: dict[str, Any]) -> str:
    kind = "read-only" if key["read_only"] else "read-write"
    details = [f"created {key['created_at']}"]
    for field, says in (
        ("expires_at", "expires"),
        ("replaced_by", "replaced by"),
        ("revoked_at", "revoked"),
        ("last_used_at", "last used"),
    ):
        if key.get(field):
            details.append(f"{says} {key[field]}")
    return f"{key['id']}  {key['merchant_id']}  {key['redacted_secret']}  {kind}  {', '.join(details)}"


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
            print(json.dumps(key if args.action != "roll" else {**key, "rolled": answer["rolled"]}, indent=2))
        elif args.action in ("create", "roll"):
            print(f"created {_describe(key)}")
            if args.action == "roll":
                print(f"rolled  {_describe(answer['rolled'])}")
            print(f"\n  secret: {key['secret']}\n")
            print("This is the only time the secret is shown; store it now. It is stored nowhere, only its hash.")
        else:
            print(f"revoked {_describe(key)}")
        return EXIT_OK

    return guarded(f"keys {args.action}", body)
