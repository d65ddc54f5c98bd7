"""``python -m payment_processor.reconcile``: run the scheduled job now.

The same work as the scheduled ``handler.reconcile`` function, for operators and the local target: ask the
acquirer again about what it left unanswered, cancel expired authorizations, deliver the transaction-log
outbox, purge expired idempotency keys.
Prints a JSON report; exits 0 when the run met no error, 1 when something is left for the next run.
"""

from __future__ import annotations

import argparse
import json
import sys

from payment_processor import handler
from payment_processor.operations import RESOLVE_AFTER_S


def main(argv: list[str] | None = None) -> int:
    """Run one pass and report."""
    parser = argparse.ArgumentParser(prog="python -m payment_processor.reconcile", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--resolve-after-s",
        type=float,
        default=RESOLVE_AFTER_S,
        metavar="SECONDS",
        help=f"settle processing payments older than this (default {RESOLVE_AFTER_S:g}: a younger one may "
        "still be settled by its own request)",
    )
    args = parser.parse_args(argv)
    result = handler.reconcile({"resolve_after_s": args.resolve_after_s}, None)
    print(json.dumps(result))
    return 0 if result["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
